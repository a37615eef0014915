import { isPruneError, type PruneErrorCode } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { parseLlamaConfig } from "./config.ts";

const LLAMA = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  hidden_size: 64,
  intermediate_size: 172,
  num_hidden_layers: 5,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  vocab_size: 512,
  rms_norm_eps: 1e-5,
  max_position_embeddings: 512,
  tie_word_embeddings: true,
};

function expectError(fn: () => unknown, code: PruneErrorCode, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isPruneError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(pattern);
}

describe("parseLlamaConfig", () => {
  it("parses a llama2.c-shaped Llama config", () => {
    expect(parseLlamaConfig(LLAMA)).toEqual({
      family: "llama",
      hiddenSize: 64,
      intermediateSize: 172,
      numLayers: 5,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 8,
      vocabSize: 512,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      tieWordEmbeddings: true,
      attentionBias: false,
      oProjBias: false,
      maxPositionEmbeddings: 512,
      slidingWindow: undefined,
    });
  });

  it("applies Hugging Face's own defaults for Llama (kv heads = heads, eps 1e-6, untied)", () => {
    const { num_key_value_heads: _, rms_norm_eps: __, tie_word_embeddings: ___, ...rest } = LLAMA;
    const c = parseLlamaConfig(rest);
    expect([c.numKvHeads, c.rmsNormEps, c.tieWordEmbeddings]).toEqual([8, 1e-6, false]);
  });

  it("gives Qwen2 q/k/v biases but no o_proj bias, and honours head_dim and rope_theta", () => {
    const c = parseLlamaConfig({
      ...LLAMA,
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      head_dim: 16,
      rope_theta: 1000000,
      use_sliding_window: false,
      sliding_window: 4096,
    });
    expect([c.family, c.attentionBias, c.oProjBias, c.headDim, c.ropeTheta, c.slidingWindow]).toEqual([
      "qwen2",
      true,
      false,
      16,
      1000000,
      undefined,
    ]);
  });

  it("reads Mistral's sliding window (null means none)", () => {
    const m = { ...LLAMA, architectures: ["MistralForCausalLM"], model_type: "mistral" };
    expect(parseLlamaConfig({ ...m, sliding_window: 4096 }).slidingWindow).toBe(4096);
    expect(parseLlamaConfig({ ...m, sliding_window: null }).slidingWindow).toBeUndefined();
  });

  it("rejects unsupported architectures", () => {
    expectError(
      () =>
        parseLlamaConfig(
          { ...LLAMA, architectures: ["GPT2LMHeadModel"], model_type: undefined },
          "gpt2/config.json",
        ),
      "ARCH_UNSUPPORTED",
      /gpt2\/config\.json: unsupported architecture "GPT2LMHeadModel"/,
    );
    expectError(
      () => parseLlamaConfig({ ...LLAMA, architectures: undefined, model_type: "gemma" }),
      "ARCH_UNSUPPORTED",
      /gemma/,
    );
    expectError(() => parseLlamaConfig({ ...LLAMA, model_type: "qwen2" }), "CONFIG_INVALID", /model_type/);
  });

  it("rejects unknown rope_scaling types, non-SiLU activations, mlp_bias and Qwen2 sliding windows instead of ignoring them", () => {
    expectError(
      () => parseLlamaConfig({ ...LLAMA, rope_scaling: { type: "yarn", factor: 2 } }),
      "ARCH_UNSUPPORTED",
      /rope_scaling\.type" "yarn"/,
    );
    expectError(() => parseLlamaConfig({ ...LLAMA, hidden_act: "gelu" }), "ARCH_UNSUPPORTED", /hidden_act/);
    expectError(() => parseLlamaConfig({ ...LLAMA, mlp_bias: true }), "ARCH_UNSUPPORTED", /mlp_bias/);
    expectError(
      () =>
        parseLlamaConfig({
          ...LLAMA,
          model_type: "qwen2",
          architectures: undefined,
          use_sliding_window: true,
        }),
      "ARCH_UNSUPPORTED",
      /use_sliding_window/,
    );
  });

  it("names a missing or invalid key and the source", () => {
    const { hidden_size: _, ...noHidden } = LLAMA;
    expectError(
      () => parseLlamaConfig(noHidden, "m/config.json"),
      "CONFIG_INVALID",
      /m\/config\.json: missing required key "hidden_size"/,
    );
    expectError(
      () => parseLlamaConfig({ ...LLAMA, vocab_size: -3 }),
      "CONFIG_INVALID",
      /"vocab_size".*got -3/,
    );
    expectError(
      () => parseLlamaConfig({ ...LLAMA, num_hidden_layers: "5" }),
      "CONFIG_INVALID",
      /num_hidden_layers/,
    );
    expectError(() => parseLlamaConfig({ ...LLAMA, num_key_value_heads: 3 }), "CONFIG_INVALID", /divisor/);
    expectError(
      () => parseLlamaConfig({ ...LLAMA, num_attention_heads: 7, num_key_value_heads: 7 }),
      "CONFIG_INVALID",
      /hidden_size \(64\)/,
    );
    expectError(() => parseLlamaConfig({ ...LLAMA, rms_norm_eps: 0 }), "CONFIG_INVALID", /rms_norm_eps/);
    expectError(
      () => parseLlamaConfig({ ...LLAMA, tie_word_embeddings: "yes" }),
      "CONFIG_INVALID",
      /tie_word_embeddings/,
    );
    expectError(
      () =>
        parseLlamaConfig({
          ...LLAMA,
          model_type: "mistral",
          architectures: undefined,
          num_key_value_heads: undefined,
        }),
      "CONFIG_INVALID",
      /num_key_value_heads/,
    );
    expectError(() => parseLlamaConfig({}), "CONFIG_INVALID", /model_type/);
  });
});
