import { createRng } from "@mama-prune/core";
import { readLlama2c } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { loadLlama } from "../src/index.ts";
import {
  decodeReference,
  encodeReference,
  parseLlama2cReference,
  type ReferenceModel,
  readReferenceVocab,
  referenceGreedy,
  referenceLogits,
  referenceNll,
} from "./reference-forward.ts";

// Node's fs through a computed specifier so this package's typecheck needs no @types/node.
async function readBytes(relativeToRepoRoot: string): Promise<Uint8Array> {
  const fsSpecifier: string = "node:fs/promises";
  const fs = (await import(fsSpecifier)) as { readFile(path: URL): Promise<Uint8Array> };
  return new Uint8Array(await fs.readFile(new URL(`../../../${relativeToRepoRoot}`, import.meta.url)));
}

const MODEL_BYTES = await readBytes("data/stories260K/stories260K.bin");
const VOCAB_BYTES = await readBytes("data/stories260K/tok512.bin");
const VAL_TEXT = new TextDecoder().decode(await readBytes("data/tinystories/tinystories_val.txt"));
const ONCE_UPON_A_TIME = [1, 403, 407, 261, 378];

describe("parseLlama2cReference", () => {
  it("reads the stories260K header and consumes every byte of the file", () => {
    const m = parseLlama2cReference(MODEL_BYTES);
    expect(m.config).toEqual({
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      vocabSize: 512,
      seqLen: 512,
      sharedClassifier: true,
    });
    expect(m.weights.wk.length).toBe(5 * 32 * 64);
    expect(m.weights.wcls).toBe(m.weights.tokenEmbedding);
  });

  it("rejects a file whose length does not match its header", () => {
    expect(() => parseLlama2cReference(MODEL_BYTES.subarray(0, MODEL_BYTES.length - 4))).toThrow(/expected/);
  });
});

describe("referenceForwardToken", () => {
  const model: ReferenceModel = parseLlama2cReference(MODEL_BYTES);
  const vocab = readReferenceVocab(VOCAB_BYTES, 512);

  it("encodes 'Once upon a time' the run.c way", () => {
    expect(encodeReference(vocab, "Once upon a time")).toEqual(ONCE_UPON_A_TIME);
    const ids = encodeReference(vocab, VAL_TEXT.slice(0, 300));
    expect(decodeReference(vocab, ids.slice(1), 1)).toBe(VAL_TEXT.slice(0, 300));
  });

  it("greedily continues 'Once upon a time' with the story documented in llama2.c doc/stories260K.md", () => {
    const prompt = decodeReference(vocab, ONCE_UPON_A_TIME.slice(1), 1);
    expect(prompt).toBe("Once upon a time");
    const next = referenceGreedy(model, ONCE_UPON_A_TIME, 57);
    // The exact ids, pinned after checking the decoded text by eye.
    expect(next.slice(0, 20)).toEqual([
      432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292,
    ]);
    const text = prompt + decodeReference(vocab, next, ONCE_UPON_A_TIME.at(-1)!);
    // The full sentence documented in llama2.c doc/stories260K.md (checked by eye: a fluent story).
    expect(text).toMatch(
      /^Once upon a time, there was a little girl named Lily\. She loved to play outside in the park\. One day, she saw a big, red ball\. She wanted to play with it, but it was too high\./,
    );
  });

  it("gives the same logits whether a prefix is fed alone or as part of a longer window (causality)", () => {
    const long = referenceLogits(model, [1, 403, 407, 261, 378, 265, 300]);
    const short = referenceLogits(model, [1, 403, 407]);
    for (let t = 0; t < 3; t++) expect(Array.from(short[t]!)).toEqual(Array.from(long[t]!));
  });

  it("computes NLL as log-sum-exp minus the target logit (checked against a direct softmax)", () => {
    const tokens = [1, 403, 407, 261, 378];
    const rows = referenceLogits(model, tokens);
    const nll = referenceNll(model, tokens);
    expect(nll.length).toBe(4);
    for (let t = 0; t < 4; t++) {
      const row = Array.from(rows[t]!);
      const z = row.reduce((s, v) => s + Math.exp(v), 0);
      const p = Math.exp(row[tokens[t + 1]!]!) / z;
      expect(nll[t]!).toBeCloseTo(-Math.log(p), 10);
      expect(nll[t]!).toBeGreaterThan(0);
    }
  });
});

// ---- The real model against the reference ----

/** max |a − b| / max |b| over a whole array. */
function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

describe("loadLlama (against the independent reference)", () => {
  const reference: ReferenceModel = parseLlama2cReference(MODEL_BYTES);

  const vocab = readReferenceVocab(VOCAB_BYTES, 512);

  /** BOS + the first 63 tokens of the bundled TinyStories text, encoded the run.c way by the reference. */
  async function realWindowTokens(): Promise<Int32Array> {
    return Int32Array.from(encodeReference(vocab, VAL_TEXT.slice(0, 400)).slice(0, 64));
  }

  it("agrees with the reference logits to 1e-4 relative over a 64-token window", async () => {
    const model = await loadLlama(await readLlama2c(MODEL_BYTES, "stories260K.bin"));
    const tokens = await realWindowTokens();
    expect(tokens.length).toBe(64);
    const real = await model.forward(tokens, 1, 64); // (64, 512)
    const ref = referenceLogits(reference, tokens); // 64 × (512,)
    const flatRef = new Float64Array(64 * 512); // (64, 512)
    for (let t = 0; t < 64; t++) flatRef.set(ref[t]!, t * 512);
    expect(real.length).toBe(64 * 512);
    const rel = maxRelDiff(real, flatRef);
    expect(rel).toBeLessThan(1e-4);
    // Per element, with a scale floor of the row's largest |logit| so near-zero logits do not blow up.
    for (let t = 0; t < 64; t++) {
      const row = ref[t]!;
      let scale = 0;
      for (let i = 0; i < 512; i++) scale = Math.max(scale, Math.abs(row[i]!));
      for (let i = 0; i < 512; i++) {
        const d = Math.abs(real[t * 512 + i]! - row[i]!);
        if (d > 1e-4 * scale)
          expect.fail(`logit (${t}, ${i}): real ${real[t * 512 + i]} vs reference ${row[i]}`);
      }
    }
  });

  it("agrees with the reference per-token NLL to 1e-4 relative", async () => {
    const model = await loadLlama(await readLlama2c(MODEL_BYTES, "stories260K.bin"));
    const tokens = await realWindowTokens();
    const real = await model.nll(tokens);
    const ref = referenceNll(reference, tokens);
    expect(real.length).toBe(63);
    for (let t = 0; t < 63; t++) {
      expect(Math.abs(real[t]! - ref[t]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref[t]!)));
    }
  });

  it("agrees with the reference per-token NLL over a full seq_len window (positions 0..511)", async () => {
    const model = await loadLlama(await readLlama2c(MODEL_BYTES, "stories260K.bin"));
    const tokens = Int32Array.from(encodeReference(vocab, VAL_TEXT.slice(0, 2500)).slice(0, 512));
    expect(tokens.length).toBe(512);
    const real = await model.nll(tokens);
    const ref = referenceNll(reference, tokens);
    expect(maxRelDiff(real, ref)).toBeLessThan(1e-4);
    let sumReal = 0;
    let sumRef = 0;
    for (let t = 0; t < 511; t++) {
      sumReal += real[t]!;
      sumRef += ref[t]!;
    }
    expect(Math.abs(sumReal - sumRef) / sumRef).toBeLessThan(1e-5);
  });

  it("agrees with the reference at every position when the window starts mid-text (no BOS)", async () => {
    const model = await loadLlama(await readLlama2c(MODEL_BYTES, "stories260K.bin"));
    const tokens = (await realWindowTokens()).subarray(10, 42);
    const real = await model.forward(tokens, 1, tokens.length);
    const ref = referenceLogits(reference, tokens);
    const flatRef = new Float64Array(tokens.length * 512); // (32, 512)
    for (let t = 0; t < tokens.length; t++) flatRef.set(ref[t]!, t * 512);
    expect(maxRelDiff(real, flatRef)).toBeLessThan(1e-4);
  });
});

// ---- Seeded random llama2.c checkpoints (GQA/MQA, unshared classifier, odd head sizes) ----

interface TinyShape {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number; // negative: unshared classifier
  seqLen: number;
}

/** A llama2.c v0 file built byte by byte (no tensor-io writer), weights ~ N(0, 0.3²), norms ~ 1 ± 0.1. */
function randomLlama2c(shape: TinyShape, seed: number): Uint8Array {
  const { dim, hidden, layers, heads, kvHeads, vocab, seqLen } = shape;
  const v = Math.abs(vocab);
  const headSize = dim / heads;
  const kvDim = kvHeads * headSize;
  const rng = createRng(seed);
  const chunks: [number, "w" | "norm" | "junk"][] = [
    [v * dim, "w"],
    [layers * dim, "norm"],
    [layers * dim * dim, "w"],
    [layers * kvDim * dim, "w"],
    [layers * kvDim * dim, "w"],
    [layers * dim * dim, "w"],
    [layers * dim, "norm"],
    [layers * hidden * dim, "w"],
    [layers * dim * hidden, "w"],
    [layers * hidden * dim, "w"],
    [dim, "norm"],
    [seqLen * headSize, "junk"], // legacy freq_cis real + imag: must be ignored by both readers
  ];
  if (vocab < 0) chunks.push([v * dim, "w"]);
  const total = chunks.reduce((n, [k]) => n + k, 0);
  const bytes = new Uint8Array(28 + 4 * total);
  const dv = new DataView(bytes.buffer);
  for (const [i, x] of [dim, hidden, layers, heads, kvHeads, vocab, seqLen].entries())
    dv.setInt32(4 * i, x, true);
  let p = 28;
  for (const [n, kind] of chunks) {
    for (let i = 0; i < n; i++, p += 4) {
      const x =
        kind === "w" ? 0.3 * rng.normal() : kind === "norm" ? 1 + 0.1 * rng.normal() : 1e6 * rng.normal();
      dv.setFloat32(p, x, true);
    }
  }
  return bytes;
}

describe("loadLlama on seeded random llama2.c checkpoints (against the independent reference)", () => {
  const shapes: [string, TinyShape][] = [
    [
      "MQA (1 kv head for 4 query heads), unshared classifier",
      {
        dim: 32,
        hidden: 48,
        layers: 2,
        heads: 4,
        kvHeads: 1,
        vocab: -40,
        seqLen: 16,
      },
    ],
    [
      "MHA with head size 6, shared classifier",
      { dim: 12, hidden: 20, layers: 3, heads: 2, kvHeads: 2, vocab: 30, seqLen: 12 },
    ],
    [
      "GQA 6→2 heads, head size 4, unshared classifier",
      {
        dim: 24,
        hidden: 40,
        layers: 1,
        heads: 6,
        kvHeads: 2,
        vocab: -25,
        seqLen: 10,
      },
    ],
  ];
  for (const [label, shape] of shapes) {
    it(`agrees on every logit of a full-length window: ${label}`, async () => {
      const bytes = randomLlama2c(shape, 7);
      const reference = parseLlama2cReference(bytes);
      expect(reference.config.sharedClassifier).toBe(shape.vocab > 0);
      const model = await loadLlama(await readLlama2c(bytes, "random.bin"));
      const rng = createRng(11);
      const v = Math.abs(shape.vocab);
      const tokens = Int32Array.from({ length: shape.seqLen }, () => rng.int(v));
      const real = await model.forward(tokens, 1, shape.seqLen); // (seqLen, vocab)
      const ref = referenceLogits(reference, tokens);
      const flatRef = new Float64Array(shape.seqLen * v); // (seqLen, vocab)
      for (let t = 0; t < shape.seqLen; t++) flatRef.set(ref[t]!, t * v);
      expect(maxRelDiff(real, flatRef)).toBeLessThan(1e-4);
      // Sanity: the logits are not degenerate (a wrong RoPE or head mapping would not hide behind zeros).
      expect(Math.max(...Array.from(flatRef, Math.abs))).toBeGreaterThan(0.5);
    });
  }
});
