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
