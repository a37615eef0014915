import { type ComputeBackend, createRng } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";
import { describe, expect, it } from "vitest";
import { trainBackward, trainForward } from "./engine.ts";
import { crossEntropyLoss } from "./losses.ts";
import {
  cloneParams,
  getParam,
  type InitLlamaParamsOptions,
  initLlamaParams,
  paramsToModel,
  withLinearsFrom,
} from "./params.ts";

const SMALL: InitLlamaParamsOptions = {
  hiddenSize: 16,
  intermediateSize: 24,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  vocabSize: 32,
  maxPositionEmbeddings: 64,
  std: 0.3,
  seed: 1,
};

function seededTokens(n: number, vocab: number, seed: number): Int32Array {
  const rng = createRng(seed);
  return Int32Array.from({ length: n }, () => rng.int(vocab));
}

function nextTokenTargets(tokens: Int32Array, batch: number, seqLen: number): Int32Array {
  // Row (b, t) predicts token t + 1 of its window; the last row of each window predicts nothing.
  return Int32Array.from({ length: batch * seqLen }, (_, i) =>
    i % seqLen === seqLen - 1 ? -1 : tokens[i + 1]!,
  );
}

describe("trainForward", () => {
  for (const [label, extra] of [
    ["untied llama with GQA", {}],
    ["tied embeddings", { tieWordEmbeddings: true }],
    ["qwen2 q/k/v biases", { attentionBias: true }],
    ["mistral sliding window", { slidingWindow: 3 }],
  ] as const) {
    it(`matches @mama-prune/model's forward (${label})`, async () => {
      const params = initLlamaParams({ ...SMALL, ...extra });
      const model = await paramsToModel(params);
      const tokens = seededTokens(2 * 9, SMALL.vocabSize, 3);
      const ref = await model.forward(tokens, 2, 9);
      const { logits } = await trainForward(params, tokens, 2, 9);
      let maxErr = 0;
      let maxAbs = 0;
      for (let i = 0; i < ref.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(ref[i]! - logits[i]!));
        maxAbs = Math.max(maxAbs, Math.abs(ref[i]!));
      }
      expect(maxAbs).toBeGreaterThan(0.1);
      expect(maxErr).toBe(0); // the same forward code (see forward-parity.test.ts)
    });
  }

  it("rejects tokens outside the vocabulary and mismatched lengths", async () => {
    const params = initLlamaParams(SMALL);
    await expect(trainForward(params, Int32Array.of(1, 2, 40), 1, 3)).rejects.toThrow(RangeError);
    await expect(trainForward(params, Int32Array.of(1, 2, 3), 2, 3)).rejects.toThrow(/batch·seqLen/);
    await expect(trainForward(params, new Int32Array(65), 1, 65)).rejects.toThrow(/max_position_embeddings/);
  });
});

describe("trainBackward", () => {
  for (const [label, extra] of [
    ["untied llama with GQA", {}],
    ["tied embeddings", { tieWordEmbeddings: true }],
    ["qwen2 q/k/v biases", { attentionBias: true }],
    ["mistral sliding window", { slidingWindow: 3 }],
  ] as const) {
    it(`matches float64 central differences end to end for every tensor (${label})`, async () => {
      const batch = 2;
      const seqLen = 5;
      const p64 = cloneParams(initLlamaParams({ ...SMALL, ...extra }), "f64");
      const V = SMALL.vocabSize;
      const tokens = seededTokens(batch * seqLen, V, 7);
      const targets = nextTokenTargets(tokens, batch, seqLen);
      const lossAt = async (): Promise<number> => {
        const { logits } = await trainForward(p64, tokens, batch, seqLen);
        return crossEntropyLoss(logits, targets, batch * seqLen, V).loss;
      };
      const { logits, tape } = await trainForward(p64, tokens, batch, seqLen);
      const grads = await trainBackward(tape, crossEntropyLoss(logits, targets, batch * seqLen, V).dLogits);
      const rng = createRng(5);
      const h = 1e-5;
      let checked = 0;
      for (const [name, t] of p64.tensors) {
        const g = grads.get(name)!;
        // 3 entries per tensor; for the embedding, entries of tokens that occur (others have grad 0).
        for (let s = 0; s < 3; s++) {
          const idx =
            name === "model.embed_tokens.weight"
              ? tokens[s]! * SMALL.hiddenSize + rng.int(SMALL.hiddenSize)
              : rng.int(t.length);
          const old = t[idx]!;
          t[idx] = old + h;
          const lp = await lossAt();
          t[idx] = old - h;
          const lm = await lossAt();
          t[idx] = old;
          const fd = (lp - lm) / (2 * h);
          expect(Math.abs(g[idx]! - fd), `${name}[${idx}] analytic ${g[idx]} vs fd ${fd}`).toBeLessThan(
            1e-6 + 1e-5 * Math.abs(fd),
          );
          checked++;
        }
      }
      expect(checked).toBe(3 * p64.tensors.size);
    });
  }

  it("gives float32 gradients (backend matmuls on transposed copies) within 1e-3 of float64", async () => {
    const p32 = initLlamaParams({ ...SMALL, attentionBias: true });
    const p64 = cloneParams(p32, "f64");
    const V = SMALL.vocabSize;
    const tokens = seededTokens(2 * 7, V, 8);
    const targets = nextTokenTargets(tokens, 2, 7);
    const g = async (p: typeof p32) => {
      const { logits, tape } = await trainForward(p, tokens, 2, 7);
      return trainBackward(tape, crossEntropyLoss(logits, targets, 14, V).dLogits);
    };
    const g32 = await g(p32);
    const g64 = await g(p64);
    for (const [name, a] of g64) {
      const b = g32.get(name)!;
      expect(b).toBeInstanceOf(Float32Array);
      let num = 0;
      let den = 0;
      for (let i = 0; i < a.length; i++) {
        num += (a[i]! - b[i]!) ** 2;
        den += a[i]! ** 2;
      }
      expect(Math.sqrt(num / Math.max(den, 1e-30)), name).toBeLessThan(1e-3);
    }
  });

  it("accumulates into given grads (two backwards = twice one backward)", async () => {
    const p = cloneParams(initLlamaParams(SMALL), "f64");
    const tokens = seededTokens(6, SMALL.vocabSize, 2);
    const targets = nextTokenTargets(tokens, 1, 6);
    const { logits, tape } = await trainForward(p, tokens, 1, 6);
    const d = crossEntropyLoss(logits, targets, 6, SMALL.vocabSize).dLogits;
    const once = await trainBackward(tape, d);
    const twice = await trainBackward(tape, d, await trainBackward(tape, d));
    const a = once.get("model.layers.1.mlp.down_proj.weight")!;
    const b = twice.get("model.layers.1.mlp.down_proj.weight")!;
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(2 * a[i]!, 12);
    expect(() => getParam(p, "nope")).toThrow(/missing tensor "nope"/);
  });
});

describe("initLlamaParams", () => {
  it("refuses a Qwen2 bias with a Mistral window, and impossible head counts", () => {
    expect(() => initLlamaParams({ ...SMALL, attentionBias: true, slidingWindow: 4 })).toThrow(RangeError);
    expect(() => initLlamaParams({ ...SMALL, numHeads: 3 })).toThrow(/num_attention_heads/);
  });
});

describe("trainForward with a backend", () => {
  it("runs every forward and backward matmul through the given ComputeBackend", async () => {
    const inner = createCpuBackend();
    let calls = 0;
    const backend: ComputeBackend = {
      name: "counting",
      matmulTransB: (...args) => {
        calls++;
        return inner.matmulTransB(...args);
      },
      gramAccumulate: (...args) => inner.gramAccumulate(...args),
      colSqNormAccumulate: (...args) => inner.colSqNormAccumulate(...args),
      invalidate: (w) => inner.invalidate(w),
    };
    const params = initLlamaParams(SMALL);
    const tokens = seededTokens(8, SMALL.vocabSize, 1);
    const { logits, tape } = await trainForward(params, tokens, 1, 8, { backend });
    // 7 linears per block + lm head, and attention's QKᵀ and P·V per KV head (one query chunk of 8).
    expect(calls).toBe(7 * SMALL.numLayers + 1 + 2 * SMALL.numKvHeads * SMALL.numLayers);
    calls = 0;
    const js = await trainForward(params, tokens, 1, 8, { backend, attention: "js" });
    expect(calls).toBe(7 * SMALL.numLayers + 1); // attention in plain JS
    let diff = 0;
    for (let i = 0; i < logits.length; i++) diff = Math.max(diff, Math.abs(logits[i]! - js.logits[i]!));
    expect(diff).toBeLessThan(1e-5);
    calls = 0;
    await trainBackward(
      tape,
      crossEntropyLoss(logits, nextTokenTargets(tokens, 1, 8), 8, SMALL.vocabSize).dLogits,
    );
    expect(calls).toBe(2 * (7 * SMALL.numLayers + 1)); // dx and dw per linear
  });
});

describe("withLinearsFrom", () => {
  it("takes exactly the seven block linears from a model and nothing else", async () => {
    const a = initLlamaParams(SMALL);
    const b = initLlamaParams({ ...SMALL, seed: 9 });
    const mixed = withLinearsFrom(a, await paramsToModel(b));
    for (const [name, t] of mixed.tensors) {
      const src = name.endsWith("_proj.weight") ? b : a;
      expect(t, name).toEqual(src.tensors.get(name));
    }
    expect(a.tensors.get("model.layers.0.self_attn.q_proj.weight")).not.toEqual(
      mixed.tensors.get("model.layers.0.self_attn.q_proj.weight"),
    );
    const other = await paramsToModel(initLlamaParams({ ...SMALL, intermediateSize: 8 }));
    expect(() => withLinearsFrom(a, other)).toThrow(/intermediateSize differs/);
  });
});
