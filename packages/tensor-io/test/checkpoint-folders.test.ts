// Cross-file tests on a real file system: llama2.c file → HF folder on disk → back, atomic
// staging, no-clobber and input guards, and openCheckpoint's format detection.

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isPruneError, type PruneError } from "@mama-prune/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkpointEntries, isBlockLinear } from "../src/hf-folder.ts";
import {
  createCheckpointDirWriter,
  openCheckpoint,
  openCheckpointDir,
  readHfCheckpointFolder,
  readLlama2cFile,
  readLlama2cTokenizerFile,
  writeHfCheckpointFolder,
  writeLlama2cFile,
  writeSafetensorsFile,
} from "../src/node/index.ts";
import type { Checkpoint } from "../src/types.ts";

const BIN = fileURLToPath(new URL("../../../data/stories260K/stories260K.bin", import.meta.url));
const TOK = fileURLToPath(new URL("../../../data/stories260K/tok512.bin", import.meta.url));

let root = "";
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "tensor-io-folders-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(isPruneError(e), String(e)).toBe(true);
    return `${(e as PruneError).code}: ${(e as Error).message}`;
  }
  throw new Error("nothing thrown");
}

async function expectSame(a: Checkpoint, b: Checkpoint): Promise<void> {
  expect(b.list().map((t) => t.name)).toEqual(a.list().map((t) => t.name));
  for (const t of a.list()) {
    const [x, y] = [await a.readRaw(t.name), await b.readRaw(t.name)];
    expect(x.byteLength).toBe(y.byteLength);
    let diff = 0;
    for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) diff++;
    expect(diff, t.name).toBe(0);
  }
}

describe("writeHfCheckpointFolder / readHfCheckpointFolder", () => {
  it("converts the bundled llama2.c model to a sharded folder on disk and back, bit-identical", async () => {
    const src = await readLlama2cFile(BIN);
    const out = join(root, "hf");
    const res = await writeHfCheckpointFolder(out, {
      config: src.config,
      tensors: checkpointEntries(src),
      maxShardSizeBytes: 150_000,
      inputs: [BIN],
    });
    const files = (await readdir(out)).sort();
    expect(files).toEqual([...res.files].sort());
    expect(files.filter((f) => f.endsWith(".safetensors")).length).toBe(8);
    expect((await readdir(root)).filter((f) => f.startsWith("."))).toEqual([]); // staging folder gone
    const back = await readHfCheckpointFolder(out);
    await expectSame(src, back);
    await back.close();
    await src.close();
  });

  it("refuses a non-empty destination unless overwrite, then replaces it whole", async () => {
    const src = await readLlama2cFile(BIN);
    const out = join(root, "busy");
    await mkdir(out);
    await writeFile(join(out, "keep.txt"), "x");
    const msg = await codeOf(
      writeHfCheckpointFolder(out, { config: src.config, tensors: checkpointEntries(src) }),
    );
    expect(msg).toMatch(/^TENSOR_IO_EXISTS: .*busy: destination folder is not empty/);
    expect(await readdir(out)).toEqual(["keep.txt"]);
    await writeHfCheckpointFolder(out, {
      config: src.config,
      tensors: checkpointEntries(src),
      overwrite: true,
    });
    expect((await readdir(out)).sort()).toEqual(["config.json", "model.safetensors"]);
    expect((await readdir(root)).filter((f) => f.startsWith("."))).toEqual([]);
    const empty = join(root, "empty");
    await mkdir(empty);
    await writeHfCheckpointFolder(empty, { config: src.config, tensors: checkpointEntries(src) });
    expect((await readdir(empty)).length).toBe(2);
    await src.close();
  });

  it("refuses to write inside or over an input, even with overwrite", async () => {
    const input = join(root, "hf");
    const msg = await codeOf(
      createCheckpointDirWriter(join(input, "sub"), { inputs: [input], overwrite: true }),
    );
    expect(msg).toMatch(/^TENSOR_IO_EXISTS: .*refusing to write over an input/);
    expect(
      await codeOf(
        createCheckpointDirWriter(input, { inputs: [join(input, "config.json")], overwrite: true }),
      ),
    ).toMatch(/^TENSOR_IO_EXISTS/);
  });

  it("leaves nothing behind when a write fails midway", async () => {
    const src = await readLlama2cFile(BIN);
    const out = join(root, "failed");
    const tensors = src.list().map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      data: () => src.readF32(t.name), // dense weights are not 2:4
    }));
    const msg = await codeOf(
      writeHfCheckpointFolder(out, {
        config: src.config,
        tensors,
        format: "sparse-24-bitmask",
        maxShardSizeBytes: 100_000,
      }),
    );
    expect(msg).toMatch(/^MASK_INVALID: model\.layers\.0\.self_attn\.q_proj\.weight/);
    expect((await readdir(root)).filter((f) => f === "failed" || f.startsWith("."))).toEqual([]);
    expect(tensors.some((t) => isBlockLinear(t.name, t.shape))).toBe(true);
    await src.close();
  });
});

describe("openCheckpoint", () => {
  it("detects a llama2.c file, a Hugging Face folder and a safetensors file with its config", async () => {
    const a = await openCheckpoint(BIN);
    expect(a.format).toBe("llama2c");
    const b = await openCheckpoint(join(root, "hf"));
    expect(b.format).toBe("hf-folder");
    expect(b.config).toEqual(a.config);
    const st = join(root, "single", "weights.safetensors");
    await mkdir(join(root, "single"));
    await writeSafetensorsFile(st, [
      { name: "w", dtype: "BF16", shape: [2], data: new Float32Array([1, -2]) },
    ]);
    const c = await openCheckpoint(st);
    expect(c.format).toBe("safetensors");
    expect(c.config).toEqual({});
    expect(await c.readF32("w")).toEqual(new Float32Array([1, -2]));
    await c.close();
    await writeFile(join(root, "single", "config.json"), JSON.stringify({ model_type: "llama" }));
    const d = await openCheckpoint(st);
    expect(d.config).toEqual({ model_type: "llama" });
    for (const x of [a, b, d]) await x.close();
  });

  it("refuses PyTorch zip checkpoints and reports missing paths", async () => {
    const zip = join(root, "pytorch_model.bin");
    await writeFile(zip, new Uint8Array([0x50, 0x4b, 3, 4, 0, 0, 0, 0, 0, 0]));
    expect(await codeOf(openCheckpoint(zip))).toMatch(/^TENSOR_IO_UNSUPPORTED: .*PyTorch zip\/pickle/);
    expect(await codeOf(openCheckpoint(join(root, "nope")))).toMatch(/^TENSOR_IO_NOT_FOUND/);
    expect(await codeOf(openCheckpointDir(BIN))).toMatch(/^TENSOR_IO_NOT_FOUND: .*not a folder/);
    const junk = join(root, "junk.bin");
    await writeFile(junk, new Uint8Array(40));
    expect(await codeOf(openCheckpoint(junk))).toMatch(
      /^TENSOR_IO_MALFORMED: .*junk\.bin: llama2\.c header field dim/,
    );
  });
});

describe("readLlama2cTokenizerFile", () => {
  it("reads the bundled tokenizer from disk", async () => {
    const tok = await readLlama2cTokenizerFile(TOK, 512);
    expect(tok.pieces[260]).toBe("he");
    expect(await codeOf(readLlama2cTokenizerFile(join(root, "none.bin"), 512))).toMatch(
      /^TENSOR_IO_NOT_FOUND/,
    );
    expect((await readFile(TOK)).byteLength).toBe(6227);
  });
});

describe("writeLlama2cFile", () => {
  it("exports an HF folder back to a llama2.c file whose weights equal the original", async () => {
    const hf = await readHfCheckpointFolder(join(root, "hf"));
    const out = join(root, "back.bin");
    expect(await writeLlama2cFile(out, hf, { inputs: [join(root, "hf")] })).toBe(1_056_540);
    await expectSame(await readLlama2cFile(BIN), await readLlama2cFile(out));
    expect(await codeOf(writeLlama2cFile(out, hf))).toMatch(/^TENSOR_IO_EXISTS/);
    await hf.close();
  });
});
