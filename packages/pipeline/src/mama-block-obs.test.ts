import { matrix, SILENT_LOGGER } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { rng } from "../test/fixtures/mask-problems.ts";
import { blockConditionalPrecisions, blockKeptDiagonal } from "./mama-block-obs.ts";
import { mamaLinearProcedure, mamaSettings } from "./mama-linear.ts";
import { createMamaMethod } from "./mama-method.ts";
import { fullInverseUpper, type MamaWideOptions, mamaWideSettings, upperDiagonal } from "./mama-wide.ts";

/** Gram XᵀX of random correlated inputs (tokens, n) with uneven column scales. */
function gramOf(n: number, tokens: number, seed: number): Float64Array {
  const r = rng(seed);
  const scale = Array.from({ length: n }, () => 0.3 + 2 * (r() + 0.5));
  const gram = new Float64Array(n * n);
  const x = new Float64Array(n);
  for (let t = 0; t < tokens; t++) {
    const base = r();
    for (let j = 0; j < n; j++) x[j] = scale[j]! * (r() + 0.7 * base + 0.5 * Math.sin(j + 3 * base));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) gram[i * n + j]! += x[i]! * x[j]!;
  }
  return gram;
}

/** The exact kept-set term [(H_KK + λI)⁻¹]_jj by Gauss–Jordan (independent of the code under test). */
function keptReference(gram: Float64Array, n: number, rel: number, mask: Uint8Array): Float64Array {
  let mean = 0;
  for (let j = 0; j < n; j++) mean += gram[j * n + j]! / n;
  const kept = [...Array(n).keys()].filter((j) => mask[j] === 1);
  const k = kept.length;
  const m = kept.map((p, a) => [
    ...kept.map((q) => gram[p * n + q]! + (p === q ? rel * mean : 0)),
    ...kept.map((_, b) => (a === b ? 1 : 0)),
  ]);
  for (let c = 0; c < k; c++) {
    const piv = m[c]![c]!;
    for (let q = 0; q < 2 * k; q++) m[c]![q]! /= piv;
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = m[r]![c]!;
      if (f !== 0) for (let q = 0; q < 2 * k; q++) m[r]![q]! -= f * m[c]![q]!;
    }
  }
  const d = new Float64Array(n);
  kept.forEach((j, a) => {
    d[j] = m[a]![k + a]!;
  });
  return d;
}

function randomMask(n: number, pruned: number, seed: number, from = 0, to = n): Uint8Array {
  const r = rng(seed);
  const mask = new Uint8Array(n).fill(1);
  let done = 0;
  while (done < pruned) {
    const j = from + Math.floor((r() + 0.5) * (to - from));
    if (mask[j] === 1) {
      mask[j] = 0;
      done++;
    }
  }
  return mask;
}

const relErr = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

describe("the block-conditional kept-set OBS term", () => {
  const n = 48;
  const rel = 0.01;
  const gram = gramOf(n, 150, 3);

  it("with one block of all columns equals the exact kept-set term (1e-9 relative) for random masks", async () => {
    const u = await fullInverseUpper(gram, n, rel, undefined, "t");
    const obs = blockConditionalPrecisions(u, n, n, "t");
    for (let seed = 0; seed < 4; seed++) {
      const mask = randomMask(n, 10 + 8 * seed, seed);
      const d = blockKeptDiagonal(obs, mask);
      const ref = keptReference(gram, n, rel, mask);
      for (let j = 0; j < n; j++) {
        if (mask[j] === 0) expect(d[j]).toBe(0);
        else expect(relErr(d[j]!, ref[j]!)).toBeLessThan(1e-9);
      }
    }
  });

  it("with B = 16 is exact (1e-9) inside the block holding all of a row's pruned columns, and the full term elsewhere", async () => {
    const u = await fullInverseUpper(gram, n, rel, undefined, "t");
    const obs = blockConditionalPrecisions(u, n, 16, "t");
    const full = upperDiagonal(u, n);
    // Every pruned column in block 1 (columns 16..31); blocks 0 and 2 fully kept.
    const mask = randomMask(n, 9, 7, 16, 32);
    const d = blockKeptDiagonal(obs, mask);
    const ref = keptReference(gram, n, rel, mask);
    for (let j = 16; j < 32; j++) {
      if (mask[j] === 0) expect(d[j]).toBe(0);
      else expect(relErr(d[j]!, ref[j]!)).toBeLessThan(1e-9);
    }
    for (const j of [...Array(16).keys(), ...Array.from({ length: 16 }, (_, i) => 32 + i)]) {
      expect(relErr(d[j]!, full[j]!)).toBeLessThan(1e-9);
    }
    // Fully kept row: every block gives diag(G).
    const all = blockKeptDiagonal(obs, new Uint8Array(n).fill(1));
    for (let j = 0; j < n; j++) expect(relErr(all[j]!, full[j]!)).toBeLessThan(1e-9);
  });

  it("with pruned columns in every block lies between the exact kept-set term and the full-inverse term", async () => {
    // Treating other blocks' pruned columns as kept adds regressors: exact ≤ block ≤ full.
    const u = await fullInverseUpper(gram, n, rel, undefined, "t");
    const obs = blockConditionalPrecisions(u, n, 16, "t");
    const full = upperDiagonal(u, n);
    let strictlyInside = 0;
    for (let seed = 10; seed < 14; seed++) {
      const mask = randomMask(n, 24, seed);
      const d = blockKeptDiagonal(obs, mask);
      const ref = keptReference(gram, n, rel, mask);
      for (let j = 0; j < n; j++) {
        if (mask[j] === 0) continue;
        expect(d[j]!).toBeGreaterThanOrEqual(ref[j]! * (1 - 1e-9));
        expect(d[j]!).toBeLessThanOrEqual(full[j]! * (1 + 1e-9));
        if (d[j]! < full[j]! * (1 - 1e-6) && d[j]! > ref[j]! * (1 + 1e-6)) strictlyInside++;
      }
    }
    expect(strictlyInside).toBeGreaterThan(0);
  });

  it("rejects a block width that is not a positive integer", async () => {
    const u = await fullInverseUpper(gram, n, rel, undefined, "t");
    expect(() => blockConditionalPrecisions(u, n, 0, "t")).toThrow(/block must be a positive integer, got 0/);
  });
});

describe("the wide path with the block term", () => {
  const rows = 12;
  const n = 48;
  const r = rng(21);
  const w = matrix(
    rows,
    n,
    Float32Array.from({ length: rows * n }, () => r()),
  );
  const gram = gramOf(n, 150, 23);
  const sqNorm = Float64Array.from({ length: n }, (_, j) => gram[j * n + j]!);
  const stats = { cols: n, tokens: 150, weightSum: 150, gram, sqNorm };
  const defaults = createMamaMethod().defaultOptions!;
  const run = (wide: MamaWideOptions, sparsity: 0.5 | { n: 2; m: 4 }) =>
    mamaLinearProcedure(mamaSettings({ path: "wide", wide: { solver: "pcg", ...wide } }, defaults))({
      name: "w",
      weight: w,
      sparsity,
      group: typeof sparsity === "number" ? "row" : "n:m",
      stats,
      log: SILENT_LOGGER,
    });

  it.each([0.5, { n: 2, m: 4 }] as const)(
    "at %o with one block of all columns picks the same mask and weights as the exact kept-set term",
    async (sparsity) => {
      for (const steps of [2, 4]) {
        const kept = await run({ steps, obs: "kept" }, sparsity);
        const block = await run({ steps, obs: "block", block: n }, sparsity);
        const full = await run({ steps, obs: "full" }, sparsity);
        expect(block.mamaPath).toBe("wide");
        expect(Array.from(block.mask)).toEqual(Array.from(kept.mask));
        for (let k = 0; k < rows * n; k++) expect(block.weight[k]).toBeCloseTo(kept.weight[k]!, 6);
        // The term matters at 50 % (at 2:4 the default swap refinement brings the masks together).
        if (sparsity === 0.5) expect(Array.from(full.mask)).not.toEqual(Array.from(kept.mask));
      }
    },
  );

  it("checks its knobs", () => {
    expect(mamaWideSettings(undefined)).toEqual({
      solver: "sweep",
      polishIterations: 1,
      sweeps: 1,
      steps: 8,
      intermediateIterations: 3,
      obs: "full",
      block: 64,
    });
    expect(mamaWideSettings({ obs: "block", block: 32 })).toEqual({
      solver: "sweep",
      polishIterations: 1,
      sweeps: 1,
      steps: 8,
      intermediateIterations: 3,
      obs: "block",
      block: 32,
    });
    expect(() => mamaWideSettings({ obs: "x" as "full" })).toThrow(
      /wide.obs must be "full", "block" or "kept", got x/,
    );
    expect(() => mamaWideSettings({ block: 0 })).toThrow(/wide.block must be an integer >= 1, got 0/);
    expect(() => mamaWideSettings({ steps: 0 })).toThrow(/wide.steps must be an integer in \[1, 64\], got 0/);
    expect(() => mamaWideSettings({ intermediateIterations: -1 })).toThrow(/wide.intermediateIterations/);
  });
});
