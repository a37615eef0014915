// The dense target's backend path (cols ≥ 512, float32 GEMMs) against the float64 JS path.
import { createWasmBackend, isWasmSimdSupported } from "@mama-prune/compute-wasm";
import { type ComputeBackend, createRng, matrix } from "@mama-prune/core";
import { sparseGptFactor } from "@mama-prune/redistribute";
import { afterAll, describe, expect, it } from "vitest";
import { denseTargetWeight } from "./dense-target.ts";
import { denseTargetOnBackend } from "./dense-target-backend.ts";

/**
 * Correlated inputs: dense X (t, n) with AR(1) columns (ρ = 0.8) plus 4 shared latent factors, pruned
 * X̃ = X + 0.3·noise; returns H̃ = X̃ᵀX̃ and C = X̃ᵀX (float64 loops) and a weight (rows, n).
 */
function problem(seed: number, t: number, n: number, rows: number) {
  const rng = createRng(seed);
  const g = (): number =>
    Math.sqrt(-2 * Math.log(Math.max(rng.next(), 1e-12))) * Math.cos(2 * Math.PI * rng.next());
  const xd = new Float64Array(t * n); // (t, n)
  const xp = new Float64Array(t * n); // (t, n)
  const load = Float64Array.from({ length: 4 * n }, g); // (4, n)
  for (let s = 0; s < t; s++) {
    const f = [g(), g(), g(), g()];
    let prev = 0;
    for (let j = 0; j < n; j++) {
      prev = 0.8 * prev + g();
      let v = prev;
      for (let q = 0; q < 4; q++) v += f[q]! * load[q * n + j]!;
      xd[s * n + j] = v;
      xp[s * n + j] = v + 0.3 * g();
    }
  }
  const gram = new Float64Array(n * n);
  const cross = new Float64Array(n * n);
  for (let s = 0; s < t; s++) {
    const o = s * n;
    for (let a = 0; a < n; a++) {
      const pa = xp[o + a]!;
      const ga = a * n;
      for (let b = 0; b < n; b++) {
        gram[ga + b]! += pa * xp[o + b]!;
        cross[ga + b]! += pa * xd[o + b]!;
      }
    }
  }
  const w = Float32Array.from({ length: rows * n }, g); // (rows, n)
  return { gram, cross, w };
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

function maxDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

describe.skipIf(!isWasmSimdSupported())("denseTargetWeight on a backend (cols ≥ 512)", async () => {
  const backend = await createWasmBackend();
  afterAll(() => backend.dispose?.());
  const n = 640;
  const rows = 48;
  const p = problem(17, 800, n, rows);
  const W = matrix(rows, n, p.w);

  it("agrees with the float64 JS path to 1e-4 of max|V| (and 5e-4 of max|V − W|), for α = 1 and 0.5", async () => {
    for (const blend of [1, 0.5]) {
      const js = await denseTargetWeight(W, p.gram, p.cross, 0.01, "t", blend);
      const be = await denseTargetWeight(W, p.gram, p.cross, 0.01, "t", blend, backend);
      expect(be.lambda).toBe(js.lambda);
      expect(be.warnings).toEqual([]);
      const scale = maxAbs(js.target.data);
      const moved = maxDiff(js.target.data, p.w);
      const err = maxDiff(be.target.data, js.target.data);
      expect(moved).toBeGreaterThan(0.05 * scale); // the target really moves away from W
      expect(err).toBeLessThan(1e-4 * scale);
      expect(err).toBeLessThan(5e-4 * moved);
      // The tolerance separates: a 1 % change of λ moves the float64 target by far more than it.
      const off = await denseTargetWeight(W, p.gram, p.cross, 0.0101, "t", blend);
      expect(maxDiff(off.target.data, js.target.data)).toBeGreaterThan(10 * err);
    }
  });

  it("gives W exactly when X̃ = X (C = H̃), and a narrow layer never touches the backend (bit-identical)", async () => {
    const same = await denseTargetWeight(W, p.gram, p.gram, 0.01, "t", 1, backend);
    expect(maxDiff(same.target.data, p.w)).toBe(0);
    const m = 500;
    const q = problem(5, 300, m, 3);
    const Wq = matrix(3, m, q.w);
    const no = (): never => {
      throw new Error("backend must not be used below 512 columns");
    };
    const refuse: ComputeBackend = {
      name: "refuse",
      matmulTransB: no,
      gramAccumulate: no,
      colSqNormAccumulate: no,
      invalidate: () => {},
    };
    const js = await denseTargetWeight(Wq, q.gram, q.cross, 0.01, "t", 0.7);
    const be = await denseTargetWeight(Wq, q.gram, q.cross, 0.01, "t", 0.7, refuse);
    expect(Array.from(be.target.data)).toEqual(Array.from(js.target.data));
    expect(be.lambda).toBe(js.lambda);
  });

  it("escalates the damping with the JS path's warnings on a singular Gram (damping 0, fewer tokens than columns)", async () => {
    const q = problem(9, 400, 576, 4);
    const Wq = matrix(4, 576, q.w);
    const r = await denseTargetWeight(Wq, q.gram, q.cross, 0, "q_proj", 1, backend);
    expect(r.warnings.length).toBeGreaterThan(0);
    expect(r.warnings[0]).toMatch(
      /^mama\(q_proj\) target "dense": Cholesky of H̃ \+ λI failed at λ = 0·mean\(diag H̃\); retrying with 1e-8·mean\(diag H̃\)\.$/,
    );
    expect(r.lambda).toBeGreaterThan(0);
    for (const v of r.target.data) expect(Number.isFinite(v)).toBe(true);
  });

  it("taking D, U and Uᵀ in blocks of rows gives the one-block GEMMs' target bit for bit (own and shared factor)", async () => {
    const f = await sparseGptFactor(p.gram, n, { percdamp: 0.01, backend });
    const shared = { upper: f.upper, relDamping: f.relDamping };
    for (const factor of [undefined, shared]) {
      const whole = await denseTargetOnBackend(W, p.gram, p.cross, 0.01, "t", 0.8, backend, factor, n * n);
      // 40 rows per block: 16 blocks, the n² operands never whole.
      const blocks = await denseTargetOnBackend(W, p.gram, p.cross, 0.01, "t", 0.8, backend, factor, 40 * n);
      let diff = 0;
      for (let k = 0; k < whole.target.data.length; k++)
        if (whole.target.data[k] !== blocks.target.data[k]) diff++;
      expect(diff).toBe(0);
      expect(blocks.lambda).toBe(whole.lambda);
      // And it is the dense target: against the float64 JS path within the float32 tolerance above.
      const js = await denseTargetWeight(W, p.gram, p.cross, 0.01, "t", 0.8);
      expect(maxDiff(blocks.target.data, js.target.data)).toBeLessThan(1e-4 * maxAbs(js.target.data));
    }
  });

  it("reads the factor's upper triangle only: H̃ kept below it (keepLowerTriangle) gives the zero-filled factor's V and gradient bit for bit", async () => {
    const f = await sparseGptFactor(p.gram, n, { percdamp: 0.01, backend });
    const beside = await sparseGptFactor(new Float64Array(p.gram), n, {
      percdamp: 0.01,
      backend,
      overwriteHessian: true,
      keepLowerTriangle: true,
    });
    expect(beside.upper[5 * n + 2]).toBe(p.gram[5 * n + 2]); // H̃ below the diagonal, not 0
    expect(beside.relDamping).toBe(f.relDamping);
    for (const blockFloats of [n * n, 40 * n]) {
      const zero = { upper: f.upper, relDamping: f.relDamping };
      const kept = { upper: beside.upper, relDamping: beside.relDamping };
      const a = await denseTargetOnBackend(W, p.gram, p.cross, 0.01, "t", 0.8, backend, zero, blockFloats);
      const b = await denseTargetOnBackend(W, p.gram, p.cross, 0.01, "t", 0.8, backend, kept, blockFloats);
      expect(Array.from(b.target.data)).toEqual(Array.from(a.target.data));
      expect(Array.from(b.targetGradient!)).toEqual(Array.from(a.targetGradient!));
      expect(maxDiff(a.target.data, W.data)).toBeGreaterThan(0); // a real correction
    }
  });
});
