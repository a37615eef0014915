import { createRng, isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { createBatchSampler } from "./data.ts";
import { zeroGrads } from "./engine.ts";
import { applyMasks, masksFromZeros, sparsityOf } from "./masks.ts";
import { clipGradNorm, createAdamW, learningRateAt } from "./optim.ts";
import {
  cloneParams,
  getParam,
  type InitLlamaParamsOptions,
  initLlamaParams,
  type LlamaParams,
} from "./params.ts";
import { distill, sft } from "./train.ts";

const TINY: InitLlamaParamsOptions = {
  hiddenSize: 16,
  intermediateSize: 32,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  vocabSize: 24,
  maxPositionEmbeddings: 64,
  std: 0.1,
  seed: 3,
};

/** A learnable stream: a fixed cycle of 12 tokens with a little seeded noise. */
function cycleStream(n: number, seed: number): Int32Array {
  const rng = createRng(seed);
  return Int32Array.from({ length: n }, (_, i) => (rng.next() < 0.05 ? rng.int(24) : (i * 5) % 12));
}

/** Zero the smallest-|w| half of every block linear (a magnitude-pruned model). */
function pruneHalf(p: LlamaParams): void {
  for (const [name, t] of p.tensors) {
    if (!name.endsWith("_proj.weight")) continue;
    const sorted = Float64Array.from(t, Math.abs).sort();
    const thr = sorted[Math.floor(t.length / 2)]!;
    for (let i = 0; i < t.length; i++) if (Math.abs(t[i]!) < thr) t[i] = 0;
  }
}

describe("createAdamW", () => {
  it("takes a first step of lr·g/(|g|+ε) plus decoupled decay on matrices only", () => {
    const p = initLlamaParams(TINY);
    const before = cloneParams(p);
    const grads = zeroGrads(p);
    const gq = grads.get("model.layers.0.self_attn.q_proj.weight")!;
    gq[0] = 0.5;
    gq[1] = -2;
    const gn = grads.get("model.norm.weight")!;
    gn[0] = 3;
    createAdamW(p, { weightDecay: 0.1, eps: 1e-8 }).step(grads, 0.01);
    const q0 = getParam(before, "model.layers.0.self_attn.q_proj.weight");
    const q1 = getParam(p, "model.layers.0.self_attn.q_proj.weight");
    expect(q1[0]).toBeCloseTo(q0[0]! - 0.01 * (0.5 / (0.5 + 1e-8) + 0.1 * q0[0]!), 7);
    expect(q1[1]).toBeCloseTo(q0[1]! - 0.01 * (-2 / (2 + 1e-8) + 0.1 * q0[1]!), 7);
    expect(q1[2]).toBeCloseTo(q0[2]! * (1 - 0.001), 7); // zero gradient: decay only
    const n0 = getParam(before, "model.norm.weight");
    const n1 = getParam(p, "model.norm.weight");
    expect(n1[0]).toBeCloseTo(n0[0]! - 0.01, 6);
    expect(n1[1]).toBe(n0[1]); // norms are not decayed
  });

  it("refuses a NaN gradient without touching the params", () => {
    const p = initLlamaParams(TINY);
    const before = Float32Array.from(getParam(p, "model.norm.weight"));
    const grads = zeroGrads(p);
    grads.get("model.norm.weight")![3] = Number.NaN;
    expect(() => createAdamW(p).step(grads, 0.1)).toThrow(/not finite at index 3/);
    expect(getParam(p, "model.norm.weight")).toEqual(before);
  });
});

describe("clipGradNorm", () => {
  it("scales the global norm down to maxNorm and leaves small gradients alone", () => {
    const p = initLlamaParams(TINY);
    const g = zeroGrads(p);
    g.get("model.norm.weight")![0] = 3;
    g.get("model.embed_tokens.weight")![5] = 4;
    expect(clipGradNorm(g, 1)).toBeCloseTo(5, 6);
    expect(g.get("model.norm.weight")![0]).toBeCloseTo(0.6, 6);
    expect(g.get("model.embed_tokens.weight")![5]).toBeCloseTo(0.8, 6);
    expect(clipGradNorm(g, 10)).toBeCloseTo(1, 6);
    expect(g.get("model.norm.weight")![0]).toBeCloseTo(0.6, 6);
  });
});

describe("learningRateAt", () => {
  it("warms up linearly, peaks, and decays by cosine to minLr at the last step", () => {
    const s = { lr: 1e-3, warmupSteps: 4, totalSteps: 14, minLr: 1e-4 };
    expect(learningRateAt(0, s)).toBeCloseTo(2.5e-4, 15);
    expect(learningRateAt(3, s)).toBeCloseTo(1e-3, 15);
    expect(learningRateAt(4, s)).toBeCloseTo(1e-3, 15);
    expect(learningRateAt(9, s)).toBeCloseTo(1e-4 + 0.5 * (1 + Math.cos((Math.PI * 5) / 9)) * 9e-4, 15);
    expect(learningRateAt(13, s)).toBeCloseTo(1e-4, 15);
  });
});

describe("createBatchSampler", () => {
  it("visits every window once per epoch in a seeded order", () => {
    const tokens = Int32Array.from({ length: 50 }, (_, i) => i);
    const a = createBatchSampler(tokens, 10, 5, 7);
    const firstEpoch = Array.from(a.next()).filter((_, i) => i % 10 === 0);
    expect([...firstEpoch].sort((x, y) => x - y)).toEqual([0, 10, 20, 30, 40]);
    const b = createBatchSampler(tokens, 10, 5, 7);
    expect(Array.from(b.next()).filter((_, i) => i % 10 === 0)).toEqual(firstEpoch);
    const c = createBatchSampler(tokens, 10, 5, 8);
    expect(Array.from(c.next()).filter((_, i) => i % 10 === 0)).not.toEqual(firstEpoch);
  });

  it("names a too-short text", () => {
    try {
      createBatchSampler([1, 2, 3], 10, 1, 0);
      expect.unreachable();
    } catch (e) {
      expect(isPruneError(e, "CALIBRATION_INVALID")).toBe(true);
    }
  });
});

describe("sft", () => {
  it("lowers the next-token loss of a learnable stream", async () => {
    const p = initLlamaParams(TINY);
    const report = await sft(p, cycleStream(3000, 1), { steps: 40, lr: 1e-2, seqLen: 24, batch: 4, seed: 0 });
    const first = report.losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = report.losses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(first).toBeGreaterThan(2.8); // ≈ ln 24 at init
    expect(last).toBeLessThan(0.6 * first);
    expect(report.protocol).toMatch(/40 steps × 4 windows × 24 tokens/);
  });

  it("keeps every zero of a pruned model exactly zero (weights, and AdamW moments)", async () => {
    const p = initLlamaParams(TINY);
    pruneHalf(p);
    const masks = masksFromZeros(p);
    expect(masks.size).toBe(14);
    const zerosBefore = new Map([...masks].map(([n, m]) => [n, Array.from(m)]));
    const before = cloneParams(p);
    const report = await sft(p, cycleStream(2000, 2), {
      steps: 6,
      lr: 1e-2,
      seqLen: 16,
      batch: 2,
      weightDecay: 0.1,
    });
    expect(report.sparsityAfter).toBe(report.sparsityBefore);
    expect(report.sparsityBefore).toBeCloseTo(0.5, 2);
    for (const [name, m] of masksFromZeros(p)) expect(Array.from(m), name).toEqual(zerosBefore.get(name));
    // The kept weights did train.
    const q0 = getParam(before, "model.layers.1.mlp.up_proj.weight");
    const q1 = getParam(p, "model.layers.1.mlp.up_proj.weight");
    let changed = 0;
    for (let i = 0; i < q0.length; i++) if (q0[i] !== 0 && q0[i] !== q1[i]) changed++;
    expect(changed).toBeGreaterThan(q0.length / 4);
  });

  it("would lose the zeros without masks (so the masked test can fail)", async () => {
    const p = initLlamaParams(TINY);
    pruneHalf(p);
    const before = sparsityOf(p);
    await sft(p, cycleStream(2000, 2), { steps: 2, lr: 1e-2, seqLen: 16, batch: 2, masks: "none" });
    expect(sparsityOf(p)).toBeLessThan(before / 10);
  });

  it("masks moments too: a masked AdamW leaves m = v = 0 at pruned entries", () => {
    const p = initLlamaParams(TINY);
    pruneHalf(p);
    const masks = masksFromZeros(p);
    const grads = zeroGrads(p);
    for (const g of grads.values()) g.fill(0.1);
    const opt = createAdamW(p, { masks });
    opt.step(grads, 1e-3);
    const name = "model.layers.0.mlp.down_proj.weight";
    const m = masks.get(name)!;
    const mom = opt.moments.get(name)!;
    for (let i = 0; i < m.length; i++) {
      if (m[i] === 0) {
        expect(mom.m[i]).toBe(0);
        expect(mom.v[i]).toBe(0);
        expect(getParam(p, name)[i]).toBe(0);
      }
    }
    applyMasks(grads, masks);
    expect(grads.get(name)![m.indexOf(0)]).toBe(0);
  });

  it("rejects bad options and non-vocabulary tokens", async () => {
    const p = initLlamaParams(TINY);
    await expect(sft(p, cycleStream(500, 1), { steps: 0, lr: 1e-3, seqLen: 8, batch: 1 })).rejects.toThrow(
      /steps/,
    );
    await expect(sft(p, cycleStream(500, 1), { steps: 1, lr: 1e-3, seqLen: 80, batch: 1 })).rejects.toThrow(
      /max_position_embeddings/,
    );
    await expect(sft(p, [1, 2, 99, 3], { steps: 1, lr: 1e-3, seqLen: 2, batch: 1 })).rejects.toThrow(
      /token 2/,
    );
    await expect(
      sft(cloneParams(p, "f64"), cycleStream(500, 1), { steps: 1, lr: 1e-3, seqLen: 8, batch: 1 }),
    ).rejects.toThrow(/float32/);
  });
});

describe("distill", () => {
  it("brings a pruned student's distribution closer to the dense teacher, keeping its zeros", async () => {
    const teacher = initLlamaParams({ ...TINY, std: 0.3 });
    await sft(teacher, cycleStream(3000, 4), { steps: 30, lr: 1e-2, seqLen: 24, batch: 4 });
    const student = cloneParams(teacher);
    pruneHalf(student);
    const teacherBefore = cloneParams(teacher);
    const report = await distill({
      student,
      teacher,
      tokens: cycleStream(3000, 5),
      steps: 30,
      lr: 5e-3,
      seqLen: 24,
      batch: 4,
      temperature: 2,
      alpha: 0.1,
      seed: 1,
    });
    const first = report.losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = report.losses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(last).toBeLessThan(0.7 * first);
    expect(report.sparsityAfter).toBe(report.sparsityBefore);
    expect(report.sparsityBefore).toBeGreaterThan(0.45);
    for (const [name, t] of teacher.tensors) expect(t, name).toEqual(teacherBefore.tensors.get(name));
  });

  it("refuses a teacher with another vocabulary", async () => {
    const s = initLlamaParams(TINY);
    const t = initLlamaParams({ ...TINY, vocabSize: 30 });
    await expect(
      distill({ student: s, teacher: t, tokens: [1, 2], steps: 1, lr: 1, seqLen: 1, batch: 1 }),
    ).rejects.toThrow(/vocabularies differ/);
  });
});
