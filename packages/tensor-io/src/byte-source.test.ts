import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { bytesSource } from "./byte-source.ts";
import { readLlama2c } from "./llama2c.ts";

const modelUrl = new URL("../../../data/stories260K/stories260K.bin", import.meta.url);

describe("bytesSource", () => {
  it("returns plain Uint8Array views even for a Node Buffer, whose slice() does not copy", async () => {
    const buf = await readFile(modelUrl); // a Buffer: a Uint8Array subclass from a shared pool
    const chunk = await bytesSource(buf).read(28, 8);
    expect(Object.getPrototypeOf(chunk)).toBe(Uint8Array.prototype);
    expect(chunk.slice().buffer.byteLength).toBe(8);
  });

  it("gives readLlama2c the same weights from a Buffer as from a copied Uint8Array", async () => {
    const buf = await readFile(modelUrl);
    const fromBuffer = await readLlama2c(buf);
    const fromCopy = await readLlama2c(new Uint8Array(buf));
    for (const name of [
      "model.embed_tokens.weight",
      "model.layers.4.mlp.down_proj.weight",
      "model.norm.weight",
    ]) {
      expect(await fromBuffer.readF32(name)).toEqual(await fromCopy.readF32(name));
    }
  });
});
