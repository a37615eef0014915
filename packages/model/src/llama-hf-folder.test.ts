import { isPruneError } from "@mama-prune/core";
import { memoryCheckpointDir, readHfCheckpoint, writeHfCheckpoint } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { randomLlamaCheckpoint } from "../test/fixtures/memory-checkpoint.ts";
import { loadLlama } from "./llama.ts";

// Seeded random checkpoints written with tensor-io as Hugging Face folders (sharded safetensors +
// config.json), read back lazily and loaded: the logits must equal those of the in-memory original.
async function roundTrip(
  opts: Parameters<typeof randomLlamaCheckpoint>[0],
  dtype: "F32" | "BF16",
): Promise<{ original: Float32Array; reloaded: Float32Array }> {
  const ckpt = randomLlamaCheckpoint(opts);
  const dir = memoryCheckpointDir("tiny-model");
  await writeHfCheckpoint(dir, {
    config: ckpt.config,
    tensors: ckpt
      .list()
      .map((t) => ({ name: t.name, dtype, shape: t.shape, data: () => ckpt.readF32(t.name) })),
    maxShardSizeBytes: 4096, // force several shards
  });
  expect([...dir.files.keys()]).toContain("model.safetensors.index.json");
  const tokens = Int32Array.from([1, 4, 9, 16, 25, 3, 7]);
  const original = await (await loadLlama(ckpt)).forward(tokens, 1, tokens.length);
  const reloaded = await (await loadLlama(await readHfCheckpoint(dir))).forward(tokens, 1, tokens.length);
  return { original, reloaded };
}

describe("loadLlama from a Hugging Face folder written by tensor-io", () => {
  it("reproduces a Qwen2 model (biases, GQA, untied lm_head) bit for bit from F32 shards", async () => {
    const { original, reloaded } = await roundTrip(
      { seed: 21, modelType: "qwen2", heads: 4, kvHeads: 2, tie: false },
      "F32",
    );
    expect(Array.from(reloaded)).toEqual(Array.from(original));
  });

  it("loads BF16 shards (converted to float32) within bfloat16 rounding of the original", async () => {
    const { original, reloaded } = await roundTrip({ seed: 22, kvHeads: 2, tie: true }, "BF16");
    let num = 0;
    let den = 0;
    for (let i = 0; i < original.length; i++) {
      num = Math.max(num, Math.abs(reloaded[i]! - original[i]!));
      den = Math.max(den, Math.abs(original[i]!));
    }
    expect(num / den).toBeLessThan(0.05);
    expect(num).toBeGreaterThan(0); // really went through bfloat16
  });

  it("names the checkpoint folder when a tensor is missing", async () => {
    const ckpt = randomLlamaCheckpoint({ seed: 23 });
    const dir = memoryCheckpointDir("broken-model");
    await writeHfCheckpoint(dir, {
      config: ckpt.config,
      tensors: ckpt
        .list()
        .filter((t) => t.name !== "model.norm.weight")
        .map((t) => ({
          name: t.name,
          dtype: "F32" as const,
          shape: t.shape,
          data: () => ckpt.readF32(t.name),
        })),
    });
    await expect(loadLlama(await readHfCheckpoint(dir))).rejects.toSatisfy(
      (e: unknown) =>
        isPruneError(e, "TENSOR_IO_NOT_FOUND") &&
        /broken-model.*"model\.norm\.weight"/.test((e as Error).message),
    );
  });
});
