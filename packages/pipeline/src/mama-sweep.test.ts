import { type Matrix, matrix, SILENT_LOGGER, type Sparsity } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";
import { sparsegpt } from "@mama-prune/redistribute";
import { describe, expect, it } from "vitest";
import { rng } from "../test/fixtures/mask-problems.ts";
import { denseTargetWeight } from "./dense-target.ts";
import {
  type MamaMethodOptions,
  mamaLinearProcedure,
  mamaSettings,
  type RefitSolver,
} from "./mama-linear.ts";
import { createMamaMethod } from "./mama-method.ts";
import { sweepScoreIsObsOnly } from "./mama-sweep.ts";
import { chooseMamaPath, mamaWideSettings } from "./mama-wide.ts";
import { refitKept } from "./refit-kept.ts";

const rows = 16;
const n = 64;
const tokens = 300;
const r = rng(3);
const w = matrix(
  rows,
  n,
  Float32Array.from({ length: rows * n }, () => r()),
);
// X̃ (the pruned model's input) and X = X̃ + drift (the dense model's), correlated, uneven scales.
const scale = Array.from({ length: n }, () => 0.3 + 2 * (r() + 0.5));
const gram = new Float64Array(n * n);
const cross = new Float64Array(n * n);
for (let t = 0; t < tokens; t++) {
  const base = r();
  const xt = Array.from({ length: n }, (_, j) => scale[j]! * (r() + 0.7 * base));
  const x = xt.map((v) => v + 0.3 * r());
  for (let a = 0; a < n; a++)
    for (let b = 0; b < n; b++) {
      gram[a * n + b]! += xt[a]! * xt[b]!;
      cross[a * n + b]! += xt[a]! * x[b]!;
    }
}
const sqNorm = Float64Array.from({ length: n }, (_, j) => gram[j * n + j]!);
const layerStats = { cols: n, tokens, weightSum: tokens, gram, sqNorm };
const denseStats = { ...layerStats, crossGram: cross };
const defaults = createMamaMethod().defaultOptions!;
const backend = createCpuBackend();
const pcg: RefitSolver = (W, H, m, o) => refitKept(W, H, m, { ...o, maxDirectMultiplyAdds: 0 });
// SparseGPT's own selection group (rows × block); MAMA's default group "row" selects per row.
const obsOnly = {
  obsWeight: 1,
  magnitudeWeight: 0,
  activationWeight: 0,
  refine: "none",
  group: "matrix",
} as const;

async function run(
  options: MamaMethodOptions,
  sparsity: Sparsity,
  stats: typeof layerStats,
  solver?: RefitSolver,
): Promise<Awaited<ReturnType<ReturnType<typeof mamaLinearProcedure>>>> {
  return mamaLinearProcedure(
    mamaSettings({ path: "wide", ...options }, defaults),
    solver,
  )({
    name: "w",
    weight: w,
    sparsity,
    group: typeof sparsity === "number" ? "row" : "n:m",
    stats,
    backend,
    log: SILENT_LOGGER,
  });
}

/** (W' − V)(H + λI)(W' − V)ᵀ summed over rows, λ = 0.01·mean(diag H): MAMA's loss up to a constant. */
function dampedLoss(v: Matrix, x: Float32Array): number {
  let mean = 0;
  for (let j = 0; j < n; j++) mean += gram[j * n + j]! / n;
  let total = 0;
  const d = new Float64Array(n);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < n; j++) d[j] = x[i * n + j]! - v.data[i * n + j]!;
    for (let a = 0; a < n; a++) {
      let s = 0.01 * mean * d[a]!;
      for (let b = 0; b < n; b++) s += gram[a * n + b]! * d[b]!;
      total += d[a]! * s;
    }
  }
  return total;
}

describe("MAMA's wide path, solver sweep", () => {
  it.each([0.5, 0.7, { n: 2, m: 4 }] as const)(
    "at %o with the OBS term alone and the layer target is SparseGPT on W, bit for bit",
    async (sparsity) => {
      const m = await run(
        { ...obsOnly, target: "layer", wide: { solver: "sweep", polishIterations: 0 } },
        sparsity,
        layerStats,
      );
      const ref = await sparsegpt(w, gram, { sparsity, percdamp: 0.01, backend });
      expect(m.mamaPath).toBe("wide");
      expect(m.refitSolver).toBe("sweep");
      expect(Array.from(m.mask)).toEqual(Array.from(ref.mask));
      expect(Array.from(m.weight)).toEqual(Array.from(ref.weight));
    },
  );

  it.each([0.5, { n: 2, m: 4 }] as const)(
    "at %o with the dense target is SparseGPT run on V, bit for bit",
    async (sparsity) => {
      const o = {
        ...obsOnly,
        target: "dense",
        targetBlend: 0.35,
        wide: { solver: "sweep", polishIterations: 0 },
      } as const;
      const m = await run(o, sparsity, denseStats);
      const { target } = await denseTargetWeight(w, gram, cross, 0.01, "w", 0.35, backend);
      const ref = await sparsegpt(target, gram, { sparsity, percdamp: 0.01, backend });
      expect(Array.from(m.mask)).toEqual(Array.from(ref.mask));
      expect(Array.from(m.weight)).toEqual(Array.from(ref.weight));
      // V ≠ W here (the dense model's input drifted), so this is not SparseGPT on W.
      const onW = await sparsegpt(w, gram, { sparsity, percdamp: 0.01 });
      expect(Array.from(m.weight)).not.toEqual(Array.from(onW.weight));
    },
  );

  it("with MAMA's other terms chooses another mask, N:M-valid at 2:4 and exact counts at 50 %", async () => {
    const mixed = { obsWeight: 1, activationWeight: 1, magnitudeWeight: 0.5, refine: "none" } as const;
    expect(sweepScoreIsObsOnly(mamaSettings({ ...obsOnly }, defaults), true, false)).toBe(true);
    expect(sweepScoreIsObsOnly(mamaSettings({ ...mixed }, defaults), true, false)).toBe(false);
    const nm = await run(
      { ...mixed, target: "layer", wide: { solver: "sweep", polishIterations: 0 } },
      { n: 2, m: 4 },
      layerStats,
    );
    for (let i = 0; i < rows; i++)
      for (let g = 0; g < n; g += 4) {
        let zeros = 0;
        for (let t = 0; t < 4; t++) zeros += nm.mask[i * n + g + t] === 0 ? 1 : 0;
        expect(zeros).toBe(2);
      }
    const u = await run(
      { ...mixed, target: "layer", wide: { solver: "sweep", polishIterations: 0 } },
      0.5,
      layerStats,
    );
    const ref = await run(
      { ...obsOnly, target: "layer", wide: { solver: "sweep", polishIterations: 0 } },
      0.5,
      layerStats,
    );
    let zeros = 0;
    let differ = 0;
    for (let k = 0; k < u.mask.length; k++) {
      zeros += u.mask[k] === 0 ? 1 : 0;
      differ += u.mask[k] !== ref.mask[k] ? 1 : 0;
      if (u.mask[k] === 0) expect(u.weight[k]).toBe(0);
    }
    expect(zeros).toBe(Math.floor(0.5 * rows * n));
    expect(differ).toBeGreaterThan(0);
  });

  it("with group row (MAMA's default) is SparseGPT's sweep with a per-row selection in each block", async () => {
    const m = await run(
      { ...obsOnly, group: "row", target: "layer", wide: { solver: "sweep", polishIterations: 0 } },
      0.7,
      layerStats,
    );
    const ref = await sparsegpt(w, gram, {
      sparsity: 0.7,
      percdamp: 0.01,
      backend,
      unstructuredGroup: "row",
    });
    expect(Array.from(m.mask)).toEqual(Array.from(ref.mask));
    expect(Array.from(m.weight)).toEqual(Array.from(ref.weight));
    for (let i = 0; i < rows; i++) {
      let zeros = 0;
      for (let j = 0; j < n; j++) zeros += m.mask[i * n + j] === 0 ? 1 : 0;
      expect(zeros).toBe(Math.floor(0.7 * n));
    }
  });

  it("never ends above the unrefined sweep's loss: polish (PCG, 3 iterations) and swap refinement at 2:4", async () => {
    const { target: v } = await denseTargetWeight(w, gram, cross, 0.01, "w", 0.35, backend);
    const base = { ...obsOnly, target: "dense", targetBlend: 0.35 } as const;
    for (const sparsity of [0.7, { n: 2, m: 4 }] as const) {
      const start = await run(
        { ...base, wide: { solver: "sweep", polishIterations: 0 } },
        sparsity,
        denseStats,
      );
      const polished = await run(
        { ...base, wide: { solver: "sweep", polishIterations: 3 } },
        sparsity,
        denseStats,
        pcg,
      );
      expect(Array.from(polished.mask)).toEqual(Array.from(start.mask));
      const l0 = dampedLoss(v, start.weight);
      const l1 = dampedLoss(v, polished.weight);
      expect(l1).toBeLessThan(l0);
      if (typeof sparsity === "number") continue;
      const refined = await run(
        { ...base, refine: "swap", wide: { solver: "sweep", polishIterations: 0 } },
        sparsity,
        denseStats,
      );
      expect(dampedLoss(v, refined.weight)).toBeLessThanOrEqual(l0 * (1 + 1e-9));
    }
  });

  it("gradual sweeps keep exact per-row counts and end no worse than their first sweep's pruned set allows", async () => {
    const { target: v } = await denseTargetWeight(w, gram, cross, 0.01, "w", 0.35, backend);
    const base = { ...obsOnly, group: "row", target: "dense", targetBlend: 0.35 } as const;
    const one = await run({ ...base, wide: { solver: "sweep", polishIterations: 3 } }, 0.7, denseStats, pcg);
    const two = await run(
      { ...base, wide: { solver: "sweep", polishIterations: 3, sweeps: 2 } },
      0.7,
      denseStats,
      pcg,
    );
    for (let i = 0; i < rows; i++) {
      let zeros = 0;
      for (let j = 0; j < n; j++) {
        zeros += two.mask[i * n + j] === 0 ? 1 : 0;
        if (two.mask[i * n + j] === 0) expect(two.weight[i * n + j]).toBe(0);
      }
      expect(zeros).toBe(Math.floor(0.7 * n));
    }
    let differ = 0;
    for (let k = 0; k < one.mask.length; k++) differ += one.mask[k] !== two.mask[k] ? 1 : 0;
    expect(differ).toBeGreaterThan(0);
    // Two sweeps re-score after every earlier prune: here they end below the one-sweep loss.
    expect(dampedLoss(v, two.weight)).toBeLessThan(dampedLoss(v, one.weight));
    expect(() => mamaWideSettings({ sweeps: 0 })).toThrow(
      /option wide.sweeps must be an integer in \[1, 16\]/,
    );
  });

  it("option errors name the option; the cost estimate is SparseGPT's with no polish", () => {
    expect(() => mamaWideSettings({ solver: "admm" as never })).toThrow(
      'mama: option wide.solver must be "sweep" or "pcg", got admm',
    );
    expect(() => mamaWideSettings({ polishIterations: -1 })).toThrow(/option wide.polishIterations/);
    expect(() => mamaWideSettings({ polishIterations: 1.5 })).toThrow(/option wide.polishIterations/);
    const steps = Array.from({ length: 8 }, (_, t) => 128 * (t + 1));
    const c = chooseMamaPath(2048, 2048, steps, true, "auto", undefined, 8, {
      solver: "sweep",
      polishIterations: 0,
    });
    expect(c.path).toBe("wide");
    expect(c.steps).toBe(1);
    expect(c.wideMultiplyAdds).toBe((2 * 2048 ** 3) / 3 + 2048 ** 3);
    expect(c.reason).toMatch(/wide \(sweep\)/);
  });

  it("is the wide path's default solver; the pcg solver stays reachable by option", async () => {
    expect(mamaSettings({}, defaults).wide.solver).toBe("sweep");
    const d = await run({}, 0.5, denseStats);
    expect(d.mamaPath).toBe("wide");
    expect(d.refitSolver).toBe("sweep");
    const explicit = await run({ wide: { solver: "sweep" } }, 0.5, denseStats);
    expect(Array.from(d.weight)).toEqual(Array.from(explicit.weight));
    const p = await run({ wide: { solver: "pcg" } }, 0.5, denseStats, pcg);
    expect(p.refitSolver).toBe("pcg");
    expect(Array.from(p.mask)).not.toEqual(Array.from(d.mask));
  });
});
