import type { DType } from "@mama-prune/tensor-io";
import { memoryCheckpointDir, readHfCheckpoint, writeHfCheckpoint } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { directLogits } from "../test/fixtures/direct-forward.ts";
import { type RandomLlamaOptions, randomLlamaCheckpoint } from "../test/fixtures/memory-checkpoint.ts";
import { loadLlama } from "./llama.ts";

// One tiny random Hugging Face folder per config family people bring: the config.json keys are those
// of the real model's file (only the shapes shrunk), the weights are stored in the dtype those
// checkpoints use, sharded, and read back through tensor-io. The loaded model's logits must match a
// direct float64 forward pass that computes RoPE (scaled per the config) on its own.

async function hfFolder(
  config: Record<string, unknown>,
  shape: RandomLlamaOptions,
  dtype: DType,
): Promise<Awaited<ReturnType<typeof readHfCheckpoint>>> {
  const src = randomLlamaCheckpoint(shape);
  const dir = memoryCheckpointDir("family-model");
  await writeHfCheckpoint(dir, {
    config,
    tensors: src
      .list()
      .map((t) => ({ name: t.name, dtype, shape: t.shape, data: () => src.readF32(t.name) })),
    maxShardSizeBytes: 8192, // several shards + model.safetensors.index.json
  });
  expect(dir.files.has("model.safetensors.index.json")).toBe(true);
  const ckpt = await readHfCheckpoint(dir);
  expect(ckpt.info("model.norm.weight").dtype).toBe(dtype);
  return ckpt;
}

function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num = Math.max(num, Math.abs(actual[i]! - expected[i]!));
    den = Math.max(den, Math.abs(expected[i]!));
  }
  return num / den;
}

const TOKENS = Array.from({ length: 16 }, (_, i) => (i * 11 + 5) % 64);

/** Loads the folder, runs a forward pass and returns its worst relative error against the reference. */
async function checkFamily(
  config: Record<string, unknown>,
  shape: RandomLlamaOptions,
  dtype: DType,
): Promise<{ err: number; errUnscaled: number }> {
  const ckpt = await hfFolder(config, shape, dtype);
  const model = await loadLlama(ckpt);
  const logits = await model.forward(Int32Array.from(TOKENS), 1, TOKENS.length);
  expect(logits.every(Number.isFinite)).toBe(true);
  const V = model.config.vocabSize;
  const ref = await directLogits(ckpt, TOKENS);
  const plainCkpt = { ...ckpt, config: { ...ckpt.config, rope_scaling: null } };
  const plain = await directLogits(plainCkpt, TOKENS);
  let err = 0;
  let errUnscaled = 0;
  for (let t = 0; t < TOKENS.length; t++) {
    err = Math.max(err, relErr(logits.subarray(t * V, (t + 1) * V), ref[t]!));
    errUnscaled = Math.max(errUnscaled, relErr(logits.subarray(t * V, (t + 1) * V), plain[t]!));
  }
  return { err, errUnscaled };
}

const COMMON = {
  attention_dropout: 0.0,
  hidden_act: "silu",
  initializer_range: 0.02,
  use_cache: true,
  transformers_version: "4.45.0",
};

describe("config families load from HF folders and match a direct float64 forward", () => {
  it("Llama 3.2 (llama3 rope_scaling, GQA, head_dim, tied, BF16): scaling is applied", async () => {
    const config = {
      ...COMMON,
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      attention_bias: false,
      mlp_bias: false,
      bos_token_id: 128000,
      eos_token_id: 128001,
      head_dim: 8,
      hidden_size: 32,
      intermediate_size: 48,
      max_position_embeddings: 131072,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      num_key_value_heads: 2,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      // With head_dim 8 and θ 500000 the wavelengths are 6.3, 167, 4443, 118000: against
      // original 512 / high 4 (128) / low 1 (512), index 0 is unchanged, 1 blended, 2 and 3 divided.
      rope_scaling: {
        factor: 32.0,
        high_freq_factor: 4.0,
        low_freq_factor: 1.0,
        original_max_position_embeddings: 512,
        rope_type: "llama3",
      },
      rope_theta: 500000.0,
      tie_word_embeddings: true,
      torch_dtype: "bfloat16",
      vocab_size: 64,
    };
    const shape = { seed: 51, hidden: 32, intermediate: 48, heads: 4, kvHeads: 2, headDim: 8, vocab: 64 };
    const { err, errUnscaled } = await checkFamily(config, shape, "BF16");
    expect(err).toBeLessThan(1e-5);
    expect(errUnscaled).toBeGreaterThan(1e-3); // the scaled frequencies really reach the logits
  });

  it("Llama 2 (MHA, untied lm_head, θ 10000, no scaling, F16)", async () => {
    const config = {
      ...COMMON,
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_size: 32,
      intermediate_size: 88,
      max_position_embeddings: 4096,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      num_key_value_heads: 4,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      rope_theta: 10000.0,
      tie_word_embeddings: false,
      torch_dtype: "float16",
      vocab_size: 64,
    };
    const shape = { seed: 52, hidden: 32, intermediate: 88, heads: 4, vocab: 64, tie: false };
    expect((await checkFamily(config, shape, "F16")).err).toBeLessThan(1e-5);
  });

  it("Llama with linear rope_scaling (F32): positions/factor", async () => {
    const config = {
      ...COMMON,
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: 32,
      intermediate_size: 48,
      max_position_embeddings: 4096,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      num_hidden_layers: 2,
      rms_norm_eps: 1e-5,
      rope_scaling: { type: "linear", factor: 4.0 },
      rope_theta: 10000.0,
      tie_word_embeddings: true,
      vocab_size: 64,
    };
    const shape = { seed: 53, hidden: 32, intermediate: 48, heads: 4, vocab: 64 };
    const { err, errUnscaled } = await checkFamily(config, shape, "F32");
    expect(err).toBeLessThan(1e-5);
    expect(errUnscaled).toBeGreaterThan(1e-3);
  });

  it("Mistral (head_dim ≠ hidden/heads, sliding window shorter than the sequence, BF16)", async () => {
    const config = {
      ...COMMON,
      architectures: ["MistralForCausalLM"],
      model_type: "mistral",
      bos_token_id: 1,
      eos_token_id: 2,
      head_dim: 8, // hidden 24 / 4 heads would be 6 (Mistral-Nemo: 5120 / 32 = 160, head_dim 128)
      hidden_size: 24,
      intermediate_size: 56,
      max_position_embeddings: 32768,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-5,
      rope_theta: 1000000.0,
      sliding_window: 5,
      tie_word_embeddings: false,
      torch_dtype: "bfloat16",
      vocab_size: 64,
    };
    const shape = {
      seed: 54,
      modelType: "mistral" as const,
      hidden: 24,
      intermediate: 56,
      heads: 4,
      kvHeads: 2,
      headDim: 8,
      vocab: 64,
      tie: false,
    };
    const ckpt = await hfFolder(config, shape, "BF16");
    expect((await loadLlama(ckpt)).config.slidingWindow).toBe(5);
    expect((await checkFamily(config, shape, "BF16")).err).toBeLessThan(1e-5);
  });

  it("Qwen2.5 (q/k/v biases, tied, use_sliding_window false, θ 1e6, F32)", async () => {
    const config = {
      ...COMMON,
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      bos_token_id: 151643,
      eos_token_id: 151643,
      hidden_size: 32,
      intermediate_size: 40,
      max_position_embeddings: 32768,
      max_window_layers: 24,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      tie_word_embeddings: true,
      torch_dtype: "bfloat16",
      use_mrope: false,
      use_sliding_window: false,
      vocab_size: 64,
    };
    const shape = {
      seed: 55,
      modelType: "qwen2" as const,
      hidden: 32,
      intermediate: 40,
      heads: 4,
      kvHeads: 2,
      vocab: 64,
      eps: 1e-6,
    };
    const model = await loadLlama(await hfFolder(config, shape, "F32"));
    expect([model.config.attentionBias, model.config.tieWordEmbeddings, model.config.slidingWindow]).toEqual([
      true,
      true,
      undefined,
    ]);
    expect((await checkFamily(config, shape, "F32")).err).toBeLessThan(1e-5);
  });

  it("dynamic rope_scaling: plain RoPE bit for bit up to its threshold, longer sequences refused", async () => {
    const base = {
      ...COMMON,
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: 16,
      intermediate_size: 24,
      max_position_embeddings: 64,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      num_hidden_layers: 2,
      rms_norm_eps: 1e-5,
      rope_theta: 10000.0,
      tie_word_embeddings: true,
      vocab_size: 64,
    };
    const shape = { seed: 56, hidden: 16, intermediate: 24, heads: 4, vocab: 64 };
    const dyn = await loadLlama(
      await hfFolder(
        { ...base, rope_scaling: { type: "dynamic", factor: 2.0, original_max_position_embeddings: 32 } },
        shape,
        "F32",
      ),
    );
    const plain = await loadLlama(await hfFolder(base, shape, "F32"));
    const toks = Int32Array.from({ length: 32 }, (_, i) => (i * 7) % 64);
    expect(Array.from(await dyn.forward(toks, 1, 32))).toEqual(Array.from(await plain.forward(toks, 1, 32)));
    expect(dyn.config.maxPositionEmbeddings).toBe(32);
    await expect(
      dyn.forward(
        Int32Array.from({ length: 33 }, () => 1),
        1,
        33,
      ),
    ).rejects.toThrow(/max_position_embeddings 32/);
  });
});
