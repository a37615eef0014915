import { describe, expect, it } from "vitest";
import { loadBundled, readRepoFile } from "../test/fixtures/bundled.ts";
import { createCpuBackend } from "./cpu-backend.ts";

const { model, tokenizer } = await loadBundled();
const TEXT = new TextDecoder().decode(await readRepoFile("data/tinystories/tinystories_val.txt"));

describe("loadLlama on the bundled stories260K model", () => {
  it("reads the llama2.c header as a Llama config with GQA and tied embeddings", () => {
    const c = model.config;
    expect([c.hiddenSize, c.intermediateSize, c.numLayers, c.numHeads, c.numKvHeads, c.vocabSize]).toEqual([
      64, 172, 5, 8, 4, 512,
    ]);
    expect([c.headDim, c.tieWordEmbeddings, c.rmsNormEps, c.maxPositionEmbeddings]).toEqual([
      8,
      true,
      1e-5,
      512,
    ]);
    expect(model.linearShape(0, "k_proj")).toEqual([32, 64]);
  });

  it("agrees with its own KV-cache path: full-window greedy argmax = incremental greedy tokens", async () => {
    const prompt = tokenizer.encode("Once upon a time", { bos: true });
    const seq = model.createSequence();
    let logits = await seq.append(prompt);
    const incremental: number[] = [];
    for (let i = 0; i < 20; i++) {
      let best = 0;
      for (let j = 1; j < 512; j++) if (logits[j]! > logits[best]!) best = j;
      incremental.push(best);
      logits = await seq.append(Int32Array.of(best));
    }
    const all = Int32Array.from([...prompt, ...incremental]);
    const full = await model.forward(all, 1, all.length);
    for (let t = prompt.length - 1; t < all.length - 1; t++) {
      let best = 0;
      for (let j = 1; j < 512; j++) if (full[t * 512 + j]! > full[t * 512 + best]!) best = j;
      expect(best).toBe(all[t + 1]);
    }
  });

  it("gives a plausible per-token NLL on TinyStories text at seqlen 256 (a trained model, not noise)", async () => {
    const ids = tokenizer.encode(TEXT.slice(0, 4000), { bos: false });
    const w = ids.subarray(0, 256);
    const nll = await model.nll(w);
    const mean = nll.reduce((a, b) => a + b, 0) / nll.length;
    // A uniform guess over 512 tokens is ln 512 ≈ 6.24; this model is far better on its own domain.
    expect(nll.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    expect(mean).toBeLessThan(2.5);
    expect(mean).toBeGreaterThan(0.3);
  });

  it("is deterministic: a second load gives bit-identical logits", async () => {
    const ids = tokenizer.encode("The cat sat on the mat.", { bos: true });
    const a = await model.forward(ids, 1, ids.length);
    const other = await loadBundled();
    expect(other.model.backend.name).toBe(createCpuBackend().name);
    expect(Array.from(await other.model.forward(ids, 1, ids.length))).toEqual(Array.from(a));
  });
});
