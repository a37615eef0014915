import { isPruneError, matrix, type PruneErrorCode } from "@mama-prune/core";
import { LINEAR_NAMES, type LinearName, type LlamaModel, loadLlama } from "@mama-prune/model";
import { sparsegpt } from "@mama-prune/redistribute";
import { describe, expect, it } from "vitest";
import { randomModel, randomWindows } from "../test/fixtures/random-model.ts";
import { type PruneOptions, type PruneProgress, prune } from "./prune.ts";

const SHAPE = { hidden: 16, intermediate: 32, layers: 3, heads: 4, kvHeads: 2, vocab: 40 };

async function expectPruneError(p: Promise<unknown>, code: PruneErrorCode, mention: string): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isPruneError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
  expect((err as Error).message).toContain(mention);
}

const INPUT_GROUP: Record<LinearName, string> = {
  q_proj: "q_proj",
  k_proj: "q_proj",
  v_proj: "q_proj",
  o_proj: "o_proj",
  gate_proj: "gate_proj",
  up_proj: "gate_proj",
  down_proj: "down_proj",
};

/** Capture each linear input of one block over all windows with plain float64 loops (no backend). */
async function captureInputs(
  model: LlamaModel,
  layer: number,
  hidden: Float32Array,
  n: number,
  s: number,
): Promise<{ sq: Map<string, Float64Array>; gram: Map<string, Float64Array>; out: Float32Array }> {
  const sq = new Map<string, Float64Array>();
  const gram = new Map<string, Float64Array>();
  const out = await model.runBlock(layer, hidden, n, s, {
    onLinearInput(name, x, rows, cols) {
      if (INPUT_GROUP[name] !== name) return;
      const a = new Float64Array(cols); // (cols,)
      const g = new Float64Array(cols * cols); // (cols, cols)
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < cols; i++) {
          const xi = x[r * cols + i]!;
          a[i] = a[i]! + xi * xi;
          for (let j = 0; j < cols; j++) g[i * cols + j] = g[i * cols + j]! + xi * x[r * cols + j]!;
        }
      }
      sq.set(name, a);
      gram.set(name, g);
    },
  });
  return { sq, gram, out };
}

/** Wanda by hand: per row, prune the floor(s·cols) smallest |W|·‖X_j‖ (ties: lower column first). */
function wandaByHand(w: Float32Array, rows: number, cols: number, sq: Float64Array, s: number): Float32Array {
  const out = new Float32Array(w);
  const k = Math.floor(s * cols);
  for (let i = 0; i < rows; i++) {
    const idx = Array.from({ length: cols }, (_, j) => j);
    const score = (j: number): number => Math.abs(w[i * cols + j]!) * Math.fround(Math.sqrt(sq[j]!));
    idx.sort((a, b) => score(a) - score(b) || a - b);
    for (const j of idx.slice(0, k)) out[i * cols + j] = 0;
  }
  return out;
}

describe("prune", () => {
  it("follows the sequential protocol: block i's statistics come from the pruned blocks 0..i-1 (Wanda, checked by a manual run)", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const cal = randomWindows(3, 12, SHAPE.vocab);
    const { model } = await prune({
      checkpoint,
      method: "wanda",
      sparsity: 0.5,
      calibration: cal,
      batchSize: 2,
    });

    // Manual run: every block's inputs from the already pruned blocks.
    const manual = await loadLlama(checkpoint);
    const dense = await loadLlama(checkpoint);
    let h = manual.embed(cal.tokens);
    let hDense = dense.embed(cal.tokens);
    let differsFromDenseStats = false;
    for (let l = 0; l < SHAPE.layers; l++) {
      const { sq } = await captureInputs(manual, l, h, 3, 12);
      const { sq: sqDense, out: outDense } = await captureInputs(dense, l, hDense, 3, 12);
      for (const name of LINEAR_NAMES) {
        const [rows, cols] = manual.linearShape(l, name);
        const w = manual.getLinearWeight(l, name);
        const expected = wandaByHand(w, rows, cols, sq.get(INPUT_GROUP[name])!, 0.5);
        const fromDense = wandaByHand(w, rows, cols, sqDense.get(INPUT_GROUP[name])!, 0.5);
        if (fromDense.some((v, i) => v !== expected[i])) differsFromDenseStats = true;
        manual.setLinearWeight(l, name, expected);
        expect(Array.from(model.getLinearWeight(l, name)), `${l}.${name}`).toEqual(Array.from(expected));
      }
      h = await manual.runBlock(l, h, 3, 12);
      hDense = outDense;
    }
    // The check above can fail: statistics of the unpruned model would give other masks.
    expect(differsFromDenseStats).toBe(true);
  });

  it("matches a manual sequential SparseGPT run (Gram matrices from the pruned prefix)", async () => {
    const { checkpoint } = await randomModel({ ...SHAPE, seed: 3 });
    const cal = randomWindows(2, 16, SHAPE.vocab, 11);
    const { model, report } = await prune({
      checkpoint,
      method: "sparsegpt",
      sparsity: 0.6,
      calibration: cal,
    });
    const manual = await loadLlama(checkpoint);
    let h = manual.embed(cal.tokens);
    let maxDiff = 0;
    for (let l = 0; l < SHAPE.layers; l++) {
      const { gram } = await captureInputs(manual, l, h, 2, 16);
      for (const name of LINEAR_NAMES) {
        const [rows, cols] = manual.linearShape(l, name);
        const w = matrix(rows, cols, new Float32Array(manual.getLinearWeight(l, name)));
        const r = await sparsegpt(w, gram.get(INPUT_GROUP[name])!, { sparsity: 0.6 });
        manual.setLinearWeight(l, name, r.weight);
        const got = model.getLinearWeight(l, name);
        for (let k = 0; k < got.length; k++) maxDiff = Math.max(maxDiff, Math.abs(got[k]! - r.weight[k]!));
      }
      h = await manual.runBlock(l, h, 2, 16);
    }
    expect(maxDiff).toBeLessThan(1e-4);
    expect(
      report.linears.every((x) => x.reconstructionError !== undefined && x.reconstructionError > 0),
    ).toBe(true);
  });

  it("prunes exactly floor(s·numel) per matrix (magnitude) and floor(s·cols) per row (Wanda)", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const mag = await prune({ checkpoint, method: "magnitude", sparsity: 0.37 });
    for (const r of mag.report.linears) {
      expect(r.zeros, r.name).toBe(Math.floor(0.37 * r.shape[0] * r.shape[1]));
    }
    expect(mag.report.calibration).toBeUndefined();
    const cal = randomWindows(2, 8, SHAPE.vocab);
    const wan = await prune({ checkpoint, method: "wanda", sparsity: 0.3, calibration: cal });
    for (const r of wan.report.linears) {
      const [rows, cols] = r.shape;
      const w = wan.model.getLinearWeight(r.layer, r.linear);
      for (let i = 0; i < rows; i++) {
        let z = 0;
        for (let j = 0; j < cols; j++) if (w[i * cols + j] === 0) z++;
        expect(z).toBe(Math.floor(0.3 * cols));
      }
    }
    const total = wan.report.linears.reduce((a, r) => a + r.shape[0] * r.shape[1], 0);
    const zeros = wan.report.linears.reduce((a, r) => a + r.zeros, 0);
    expect(wan.report.total).toBe(total);
    expect(wan.report.overallSparsity).toBeCloseTo(zeros / total, 12);
  });

  it.each(["wanda", "sparsegpt", "mama", "magnitude"] as const)(
    "keeps 2:4 structure in every row of every linear (%s)",
    async (method) => {
      const { checkpoint } = await randomModel(SHAPE);
      const cal = randomWindows(2, 8, SHAPE.vocab);
      const { model, report } = await prune({
        checkpoint,
        method,
        sparsity: { n: 2, m: 4 },
        calibration: cal,
      });
      expect(report.sparsity).toBe("2:4");
      for (let l = 0; l < SHAPE.layers; l++) {
        for (const name of LINEAR_NAMES) {
          const w = model.getLinearWeight(l, name);
          for (let g = 0; g < w.length; g += 4) {
            let z = 0;
            for (let q = 0; q < 4; q++) if (w[g + q] === 0) z++;
            expect(z).toBe(2);
          }
        }
      }
      expect(report.overallSparsity).toBe(0.5);
    },
  );

  it.each(["magnitude", "neg-magnitude", "wanda", "sparsegpt", "ria", "mama"] as const)(
    "leaves every weight unchanged at sparsity 0 (%s)",
    async (method) => {
      const { checkpoint } = await randomModel(SHAPE);
      const cal = randomWindows(2, 8, SHAPE.vocab);
      const { model } = await prune({ checkpoint, method, sparsity: 0, calibration: cal });
      for (let l = 0; l < SHAPE.layers; l++) {
        for (const name of LINEAR_NAMES) {
          const w = await checkpoint.readF32(model.parameterName(l, name));
          expect(Array.from(model.getLinearWeight(l, name))).toEqual(Array.from(w));
        }
      }
    },
  );

  it("spreads OWL sparsity over blocks with the requested mean", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const cal = randomWindows(2, 8, SHAPE.vocab);
    const events: PruneProgress[] = [];
    const { report } = await prune({
      checkpoint,
      method: "wanda",
      sparsity: 0.5,
      calibration: cal,
      allocation: { kind: "owl", lambda: 0.05 },
      onProgress: (e) => events.push(e),
    });
    const s = report.perBlockSparsity;
    expect(s.reduce((a, b) => a + b, 0) / s.length).toBeCloseTo(0.5, 12);
    expect(Math.max(...s) - Math.min(...s)).toBeCloseTo(0.1, 12);
    expect(events.filter((e) => e.stage === "owl").map((e) => e.done)).toEqual([1, 2, 3]);
    expect(events.filter((e) => e.stage === "block").map((e) => e.done)).toEqual([1, 2, 3]);
    expect(events.at(-1)?.stage).toBe("done");
  });

  it("applies an explicit per-block sparsity list exactly and rejects a list of the wrong length", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const { report } = await prune({
      checkpoint,
      method: "magnitude",
      sparsity: 0.5,
      allocation: { kind: "explicit", perLayer: [0.2, 0.5, 0.75] },
    });
    expect(report.perBlockSparsity).toEqual([0.2, 0.5, 0.75]);
    for (const r of report.linears) {
      expect(r.zeros).toBe(Math.floor([0.2, 0.5, 0.75][r.layer]! * r.shape[0] * r.shape[1]));
    }
    await expectPruneError(
      prune({
        checkpoint,
        method: "magnitude",
        sparsity: 0.5,
        allocation: { kind: "explicit", perLayer: [0.5] },
      }),
      "SPARSITY_INVALID",
      "perLayer",
    );
  });

  it("weights statistics by per-window sample weights like repeating the windows", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const two = randomWindows(2, 8, SHAPE.vocab, 5);
    const repeated = new Int32Array(3 * 8); // (3, 8) = window 0, window 0, window 1
    repeated.set(two.tokens.subarray(0, 8), 0);
    repeated.set(two.tokens, 8);
    const a = await prune({
      checkpoint,
      method: "sparsegpt",
      sparsity: 0.5,
      calibration: two,
      sampleWeights: new Float32Array([2, 1]),
    });
    const b = await prune({
      checkpoint,
      method: "sparsegpt",
      sparsity: 0.5,
      calibration: { tokens: repeated, nsamples: 3, seqlen: 8 },
    });
    let maxDiff = 0;
    for (let l = 0; l < SHAPE.layers; l++) {
      for (const name of LINEAR_NAMES) {
        const x = a.model.getLinearWeight(l, name);
        const y = b.model.getLinearWeight(l, name);
        for (let k = 0; k < x.length; k++) maxDiff = Math.max(maxDiff, Math.abs(x[k]! - y[k]!));
      }
    }
    expect(maxDiff).toBeLessThan(1e-4);
    expect(a.report.calibration?.weighted).toBe(true);
  });

  it("uses W⁰ from a pre-trained checkpoint for movement and MAMA's movement term", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const { checkpoint: pre } = await randomModel({ ...SHAPE, seed: 9 });
    const mv = await prune({ checkpoint, method: "movement", sparsity: 0.5, preCheckpoint: pre });
    // Movement by hand on one matrix: keep the largest W·(W − W⁰).
    const name = "model.layers.1.mlp.up_proj.weight";
    const w = await checkpoint.readF32(name);
    const w0 = await pre.readF32(name);
    const score = Array.from(w, (v, k) => v * (v - w0[k]!));
    const k = Math.floor(0.5 * w.length);
    const order = score.map((_, i) => i).sort((p, q) => score[p]! - score[q]! || p - q);
    const expected = new Float32Array(w);
    for (const i of order.slice(0, k)) expected[i] = 0;
    expect(Array.from(mv.model.getLinearWeight(1, "up_proj"))).toEqual(Array.from(expected));
    expect(mv.report.usedPreCheckpoint).toBe(true);
    const cal = randomWindows(2, 8, SHAPE.vocab);
    const mm = await prune({
      checkpoint,
      method: "mama",
      sparsity: 0.5,
      calibration: cal,
      preCheckpoint: pre,
      mama: { useMovement: true, movementWeight: 1 },
    });
    expect(mm.report.overallSparsity).toBeCloseTo(0.5, 2);
    // Default MAMA options: movement stays OFF even when a pre-trained checkpoint is given.
    const withPre = await prune({
      checkpoint,
      method: "mama",
      sparsity: 0.5,
      calibration: cal,
      preCheckpoint: pre,
    });
    const without = await prune({ checkpoint, method: "mama", sparsity: 0.5, calibration: cal });
    expect(withPre.report.usedPreCheckpoint).toBe(false);
    expect(without.report.usedPreCheckpoint).toBe(false);
    expect(Array.from(withPre.model.getLinearWeight(0, "gate_proj"))).toEqual(
      Array.from(without.model.getLinearWeight(0, "gate_proj")),
    );
    expect(mm.report.usedPreCheckpoint).toBe(true);
    expect(Array.from(mm.model.getLinearWeight(0, "gate_proj"))).not.toEqual(
      Array.from(without.model.getLinearWeight(0, "gate_proj")),
    );
  });

  it("reports redistribution by refit with a lower reconstruction error than masking alone", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const cal = randomWindows(3, 8, SHAPE.vocab);
    const base: PruneOptions = { checkpoint, method: "wanda", sparsity: 0.5, calibration: cal };
    const none = await prune({ ...base, reconstructionError: true });
    const refit = await prune({ ...base, redistribution: "refit" });
    // Layer 0 sees identical inputs in both runs, so its errors are comparable linear by linear.
    for (const name of LINEAR_NAMES) {
      const a = none.report.linears.find((r) => r.layer === 0 && r.linear === name)!;
      const b = refit.report.linears.find((r) => r.layer === 0 && r.linear === name)!;
      expect(b.reconstructionError!).toBeLessThanOrEqual(a.reconstructionError! * (1 + 1e-9));
    }
    // "auto" is the exact refit; on small linears its direct solve runs (chooseRefitSolver).
    const auto = await prune({ ...base, redistribution: "auto" });
    expect(auto.report.linears.every((r) => r.redistribution === "refit")).toBe(true);
    expect(auto.report.linears.every((r) => r.refitSolver === "direct")).toBe(true);
    expect(Array.from(auto.model.getLinearWeight(2, "down_proj"))).toEqual(
      Array.from(refit.model.getLinearWeight(2, "down_proj")),
    );
    const mean = await prune({ ...base, redistribution: "mean" });
    expect(mean.report.warnings.some((m) => m.includes("mean compensation cannot be applied"))).toBe(true);
    expect(mean.report.linears.every((r) => r.meanShiftNorm !== undefined)).toBe(true);
  });
});

describe("prune option errors", () => {
  it.each([1, -0.1, 1.5, Number.NaN])(
    "rejects sparsity %s as SPARSITY_INVALID naming the option",
    async (s) => {
      const { checkpoint } = await randomModel(SHAPE);
      await expectPruneError(
        prune({ checkpoint, method: "magnitude", sparsity: s }),
        "SPARSITY_INVALID",
        "sparsity",
      );
    },
  );

  it.each([
    { n: 4, m: 4 },
    { n: 3, m: 2 },
    { n: 1.5, m: 4 },
  ])("rejects N:M %o with N >= M or non-integers", async (nm) => {
    const { checkpoint } = await randomModel(SHAPE);
    await expectPruneError(
      prune({ checkpoint, method: "magnitude", sparsity: nm }),
      "SPARSITY_INVALID",
      "sparsity",
    );
  });

  it("rejects movement without a pre-trained checkpoint", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    await expectPruneError(
      prune({ checkpoint, method: "movement", sparsity: 0.5 }),
      "SCORER_INPUT_MISSING",
      "option preCheckpoint",
    );
  });

  it("rejects data-driven methods without calibration and empty calibration", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    await expectPruneError(
      prune({ checkpoint, method: "wanda", sparsity: 0.5 }),
      "CALIBRATION_INVALID",
      "option calibration",
    );
    await expectPruneError(
      prune({
        checkpoint,
        method: "sparsegpt",
        sparsity: 0.5,
        calibration: { tokens: new Int32Array(0), nsamples: 0, seqlen: 8 },
      }),
      "CALIBRATION_INVALID",
      "option calibration",
    );
    const cal = randomWindows(2, 8, SHAPE.vocab);
    await expectPruneError(
      prune({
        checkpoint,
        method: "wanda",
        sparsity: 0.5,
        calibration: cal,
        sampleWeights: new Float32Array([1, -1]),
      }),
      "CALIBRATION_INVALID",
      "sampleWeights",
    );
    await expectPruneError(
      prune({
        checkpoint,
        method: "wanda",
        sparsity: 0.5,
        calibration: { ...cal, tokens: cal.tokens.map(() => 99) },
      }),
      "CALIBRATION_INVALID",
      "calibration.tokens",
    );
  });

  it("rejects unknown methods, bad overrides, OWL with N:M, and checkpoint+model together", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    await expectPruneError(
      prune({ checkpoint, method: "nope" as "wanda", sparsity: 0.5 }),
      "SCORER_NOT_FOUND",
      "option method",
    );
    await expectPruneError(
      prune({ checkpoint, method: "sparsegpt", sparsity: 0.5, redistribution: "refit" }),
      "RECIPE_INVALID",
      "redistribution",
    );
    await expectPruneError(
      prune({ checkpoint, method: "wanda", sparsity: { n: 2, m: 4 }, allocation: { kind: "owl" } }),
      "SPARSITY_INVALID",
      "allocation",
    );
    const model = await loadLlama(checkpoint);
    await expectPruneError(
      prune({ checkpoint, model, method: "magnitude", sparsity: 0.5 }),
      "RECIPE_INVALID",
      "checkpoint and model",
    );
  });

  it("stops promptly when a timer aborts it mid-run, although the JS backend's matmuls resolve at once", async () => {
    const shape = { hidden: 64, intermediate: 172, layers: 12, heads: 8, kvHeads: 4, vocab: 64, maxPos: 128 };
    const { checkpoint } = await randomModel(shape);
    const calibration = randomWindows(16, 128, shape.vocab);
    const ac = new AbortController();
    let blocksDone = 0;
    let abortedAt = Number.NaN;
    // Abort once block 0 is done: the run is under way, with 11 blocks (seconds of work) to go.
    const run = prune({
      checkpoint,
      method: "wanda",
      sparsity: 0.5,
      calibration,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.stage !== "block") return;
        blocksDone = e.done;
        if (e.done === 1) {
          setTimeout(() => {
            abortedAt = performance.now();
            ac.abort();
          }, 0);
        }
      },
    });
    await expectPruneError(run, "ABORTED", "prune: block");
    const latency = performance.now() - abortedAt;
    expect(blocksDone).toBeLessThan(shape.layers);
    expect(latency).toBeLessThan(500);
  }, 60_000);

  it("aborts between blocks", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const ac = new AbortController();
    ac.abort();
    await expectPruneError(
      prune({ checkpoint, method: "magnitude", sparsity: 0.5, signal: ac.signal }),
      "ABORTED",
      "aborted",
    );
  });
});
