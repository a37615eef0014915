// One forward implementation: distill's training forward is @mama-prune/model's forward with the
// activations kept, so on float32 params and the same backend the logits are bit-identical.
import { readFile } from "node:fs/promises";
import { createRng } from "@mama-prune/core";
import { loadLlama, parseLlamaConfig } from "@mama-prune/model";
import { readLlama2c } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { trainForward } from "./engine.ts";
import {
  initLlamaParams,
  type LlamaParams,
  paramShapes,
  paramsFromCheckpoint,
  paramsToModel,
  type Tensor,
} from "./params.ts";

function seededTokens(n: number, vocab: number, seed: number): Int32Array {
  const rng = createRng(seed);
  return Int32Array.from({ length: n }, () => rng.int(vocab));
}

/** Exact equality, element by element (NaN would fail), plus a check that the logits are not trivial. */
function expectBitIdentical(a: Float32Array, b: Tensor): void {
  expect(b).toBeInstanceOf(Float32Array);
  expect(b.length).toBe(a.length);
  let mismatches = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) mismatches++;
    maxAbs = Math.max(maxAbs, Math.abs(a[i]!));
  }
  expect(mismatches).toBe(0);
  expect(maxAbs).toBeGreaterThan(0.1);
}

/** A Llama with `attention_bias: true` (q/k/v and o biases) and GQA, random weights, HF config. */
function llamaWithBiases(seed: number): LlamaParams {
  const hfConfig = {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: 32,
    intermediate_size: 40,
    num_hidden_layers: 2,
    num_attention_heads: 8,
    num_key_value_heads: 2,
    vocab_size: 48,
    max_position_embeddings: 64,
    rms_norm_eps: 1e-6,
    rope_theta: 500000,
    attention_bias: true,
    tie_word_embeddings: false,
  };
  const config = parseLlamaConfig(hfConfig, "llamaWithBiases");
  const rng = createRng(seed);
  const tensors = new Map<string, Tensor>();
  for (const [name, shape] of paramShapes(config)) {
    const t = new Float32Array(shape.reduce((x, y) => x * y, 1));
    const base = name.endsWith("norm.weight") ? 1 : 0;
    for (let i = 0; i < t.length; i++) t[i] = base + 0.2 * rng.normal();
    tensors.set(name, t);
  }
  return { config, hfConfig, tensors };
}

describe("one forward pass: trainForward logits = LlamaModel.forward logits, bit for bit", () => {
  it("on the bundled stories260K (llama2.c, GQA 8/4, tied embeddings), 2 windows × 64", async () => {
    const bytes = new Uint8Array(
      await readFile(new URL("../../../data/stories260K/stories260K.bin", import.meta.url)),
    );
    const ckpt = await readLlama2c(bytes, "stories260K.bin");
    const model = await loadLlama(ckpt);
    let closed = 0;
    const params = await paramsFromCheckpoint(
      {
        ...ckpt,
        has: (n) => ckpt.has(n),
        info: (n) => ckpt.info(n),
        readF32: (n) => ckpt.readF32(n),
        close: async () => void closed++,
      },
      { closeCheckpoint: true },
    );
    expect(closed).toBe(1); // closed once every tensor was read
    await expect(paramsFromCheckpoint(ckpt, AbortSignal.abort())).rejects.toMatchObject({ code: "ABORTED" });
    await expect(paramsFromCheckpoint(ckpt, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: "ABORTED",
    });
    const tokens = seededTokens(2 * 64, 512, 11);
    expectBitIdentical(
      await model.forward(tokens, 2, 64),
      (await trainForward(params, tokens, 2, 64)).logits,
    );
  });

  for (const [label, make] of [
    [
      "Qwen2 (q/k/v biases, GQA 4/2)",
      () =>
        initLlamaParams({
          hiddenSize: 32,
          intermediateSize: 48,
          numLayers: 2,
          numHeads: 4,
          numKvHeads: 2,
          vocabSize: 64,
          attentionBias: true,
          std: 0.2,
          seed: 3,
        }),
    ],
    ["Llama attention_bias (q/k/v/o biases, GQA 8/2, θ 5e5, untied)", () => llamaWithBiases(5)],
    [
      "Mistral (sliding window 5, GQA 4/1)",
      () =>
        initLlamaParams({
          hiddenSize: 32,
          intermediateSize: 48,
          numLayers: 2,
          numHeads: 4,
          numKvHeads: 1,
          vocabSize: 64,
          slidingWindow: 5,
          std: 0.2,
          seed: 4,
        }),
    ],
  ] as const) {
    it(`on an HF-style config: ${label}, 3 windows × 21 (a ragged 4-query tile)`, async () => {
      const params = make();
      const model = await paramsToModel(params);
      const tokens = seededTokens(3 * 21, params.config.vocabSize, 9);
      expectBitIdentical(
        await model.forward(tokens, 3, 21),
        (await trainForward(params, tokens, 3, 21)).logits,
      );
    });
  }
});
