import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isPruneError } from "@mama-prune/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { f32ToBytes } from "../dtype.ts";
import { readSafetensors } from "../safetensors.ts";
import { openFileSource } from "./file-source.ts";
import { readSafetensorsFile, writeSafetensorsFile } from "./safetensors-file.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "st-file-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a failure");
}

describe("writeSafetensorsFile / readSafetensorsFile", () => {
  it("round-trips a real file on disk, read lazily through openFileSource", async () => {
    const path = join(dir, "model.safetensors");
    const w = Float32Array.from({ length: 12 }, (_, i) => i - 5.5); // (3, 4)
    const n = await writeSafetensorsFile(
      path,
      [
        {
          name: "model.layers.0.mlp.down_proj.weight",
          dtype: "BF16",
          shape: [3, 4],
          data: () => Promise.resolve(w),
        },
        { name: "ids", dtype: "I64", shape: [2], data: new Float32Array([7, -8]) },
      ],
      { metadata: { format: "pt" } },
    );
    expect((await readFile(path)).byteLength).toBe(n);
    const st = await readSafetensors(await openFileSource(path));
    expect(st.source).toBe(path);
    expect(st.metadata).toEqual({ format: "pt" });
    expect(Array.from(await st.readF32("model.layers.0.mlp.down_proj.weight"))).toEqual(Array.from(w));
    expect(Array.from(await st.readRaw("ids"))).toEqual(
      Array.from(f32ToBytes(new Float32Array([7, -8]), "I64")),
    );
    await st.close();
    await st.close();
    const again = await readSafetensorsFile(path);
    expect(again.list().map((t) => t.name)).toEqual(["model.layers.0.mlp.down_proj.weight", "ids"]);
    await again.close();
  });

  it("reads straight into caller memory and in chunks from a file, matching the in-memory reader", async () => {
    const path = join(dir, "chunks.safetensors");
    const v = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 100); // (10, 100)
    await writeSafetensorsFile(path, [
      { name: "f32", dtype: "F32", shape: [10, 100], data: v },
      { name: "f16", dtype: "F16", shape: [10, 100], data: v },
      { name: "bf16", dtype: "BF16", shape: [10, 100], data: v },
    ]);
    const mem = await readSafetensors(new Uint8Array(await readFile(path)));
    const st = await readSafetensorsFile(path, { chunkBytes: 64 });
    for (const name of ["f32", "f16", "bf16"]) {
      const expected = Array.from(await mem.readF32(name));
      expect(Array.from(await st.readF32(name))).toEqual(expected);
      const target = new Float32Array(1000);
      expect(Array.from(await st.readF32Into(name, target))).toEqual(expected);
      expect(Array.from(await st.readRawInto(name, new Uint8Array(st.info(name).byteLength)))).toEqual(
        Array.from(await mem.readRaw(name)),
      );
    }
    expect(Array.from(await st.readF32("f32"))).toEqual(Array.from(v));
    await st.close();
    const e = await failure(st.readF32Into("f32", new Float32Array(1000)));
    expect(isPruneError(e, "TENSOR_IO_MALFORMED")).toBe(true);
    expect((e as Error).message).toContain('tensor "f32": read after close');
  });

  it("leaves no file behind when a tensor fails, and refuses to overwrite by default", async () => {
    const path = join(dir, "bad.safetensors");
    const e = await failure(
      writeSafetensorsFile(path, [{ name: "w", dtype: "F32", shape: [2], data: () => new Float32Array(3) }]),
    );
    expect(isPruneError(e, "SHAPE_MISMATCH")).toBe(true);
    expect(await readdir(dir)).toEqual([]);
    await writeFile(path, "x");
    expect(isPruneError(await failure(writeSafetensorsFile(path, [])), "TENSOR_IO_EXISTS")).toBe(true);
    expect(await readFile(path, "utf8")).toBe("x");
  });

  it("reports a missing or malformed file with its path", async () => {
    const missing = join(dir, "missing.safetensors");
    const e1 = await failure(readSafetensorsFile(missing));
    expect(isPruneError(e1, "TENSOR_IO_NOT_FOUND")).toBe(true);
    expect((e1 as Error).message).toContain(missing);
    const junk = join(dir, "junk.safetensors");
    await writeFile(junk, new Uint8Array(100).fill(0xff));
    const e2 = await failure(readSafetensorsFile(junk));
    expect(isPruneError(e2, "TENSOR_IO_MALFORMED")).toBe(true);
    expect((e2 as Error).message).toContain(`${junk}: header length exceeds the file size`);
  });
});
