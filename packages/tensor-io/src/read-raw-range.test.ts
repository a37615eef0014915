import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { memoryCheckpointDir, readHfCheckpoint, writeHfCheckpoint } from "./hf-folder.ts";
import { readLlama2c } from "./llama2c.ts";
import { readSafetensors } from "./safetensors.ts";
import { safetensorsBytes } from "./safetensors-write.ts";
import type { ByteSource, TensorReader } from "./types.ts";

const BIN = fileURLToPath(new URL("../../../data/stories260K/stories260K.bin", import.meta.url));

function normal(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** Every (offset, length) of a few shapes: the part equals the same bytes of readRaw. */
async function expectPartsOfRaw(r: TensorReader, name: string): Promise<void> {
  const raw = await r.readRaw(name);
  const n = raw.byteLength;
  const cuts: [number, number][] = [
    [0, n],
    [0, 0],
    [n, 0],
    [0, 1],
    [n - 1, 1],
    [Math.floor(n / 3), Math.floor(n / 2)],
  ];
  for (const [o, k] of cuts) {
    const part = await r.readRawRange!(name, o, k);
    expect(part.byteLength, `${name} ${o}+${k}`).toBe(k);
    expect(Array.from(part), `${name} ${o}+${k}`).toEqual(Array.from(raw.subarray(o, o + k)));
  }
  for (const [o, k] of [
    [-1, 1],
    [0, n + 1],
    [n, 1],
    [0.5, 1],
    [0, Number.NaN],
  ] as const) {
    await expect(r.readRawRange!(name, o, k), `${name} ${o}+${k}`).rejects.toThrow(RangeError);
  }
}

describe("readRawRange", () => {
  it("reads part of a safetensors tensor with one read of just those bytes", async () => {
    const w = normal(6 * 5, 1);
    const bytes = await safetensorsBytes([
      { name: "a", dtype: "F32", shape: [3], data: normal(3, 2) },
      { name: "w", dtype: "BF16", shape: [6, 5], data: w },
    ]);
    const reads: [number, number][] = [];
    const src: ByteSource = {
      name: "<counted>",
      size: bytes.byteLength,
      read: async (o, k) => {
        reads.push([o, k]);
        return bytes.slice(o, o + k);
      },
    };
    const st = await readSafetensors(src);
    await expectPartsOfRaw(st, "w");
    reads.length = 0;
    const [begin] = st.byteRange("w");
    const row = await st.readRawRange("w", 2 * 10, 10); // row 2 of 6 (BF16: 10 bytes a row)
    expect(reads).toEqual([[begin + 20, 10]]);
    expect(Array.from(row)).toEqual(Array.from(bytes.subarray(begin + 20, begin + 30)));
    await expect(st.readRawRange("nope", 0, 1)).rejects.toThrow(/nope/);
    await st.close();
    await expect(st.readRawRange("w", 0, 1)).rejects.toThrow(/after close/);
  });

  it("is forwarded by sharded and single-file folders, and by a sparse folder for its dense tensors", async () => {
    const tensors = [
      { name: "model.embed_tokens.weight", dtype: "F16" as const, shape: [8, 4], data: normal(32, 3) },
      {
        name: "model.layers.0.mlp.down_proj.weight",
        dtype: "F32" as const,
        shape: [4, 8],
        data: normal(32, 4),
      },
      { name: "model.norm.weight", dtype: "BF16" as const, shape: [4], data: normal(4, 5) },
    ];
    const config = { model_type: "llama", hidden_size: 4, num_hidden_layers: 1 };
    for (const [label, opts] of [
      ["single", {}],
      ["sharded", { maxShardSizeBytes: 80 }],
      ["sparse", { format: "sparse-bitmask" as const }],
    ] as const) {
      const dir = memoryCheckpointDir(label);
      await writeHfCheckpoint(dir, { config, tensors, ...opts });
      if (label === "sharded") expect(dir.files.has("model.safetensors.index.json")).toBe(true);
      const ckpt = await readHfCheckpoint(dir);
      expect(ckpt.readRawRange, label).toBeTypeOf("function");
      for (const t of tensors) await expectPartsOfRaw(ckpt, t.name);
    }
  });

  it("reads parts of a llama2.c checkpoint, the RoPE-permuted q/k rows included", async () => {
    const ckpt = await readLlama2c(new Uint8Array(readFileSync(BIN)), "stories260K.bin");
    await expectPartsOfRaw(ckpt, "model.embed_tokens.weight");
    await expectPartsOfRaw(ckpt, "model.layers.1.self_attn.q_proj.weight");
    await expectPartsOfRaw(ckpt, "model.layers.1.self_attn.k_proj.weight");
    await ckpt.close();
  });
});
