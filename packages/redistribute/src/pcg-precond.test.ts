// The preconditioner's per-row setup against the one-column-at-a-time loop it replaced, bit for bit.
import { createRng } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { choleskyInPlace, solveWithFactor } from "./linalg.ts";
import { buildPreconditioner } from "./pcg-precond.ts";

describe("buildPreconditioner setupRow and apply", () => {
  it("factors C = I + F_Kᵀ·D̃_K⁻¹·F_K exactly as adding one kept column at a time (bit for bit, remainders of the 4-column steps)", async () => {
    const rng = createRng(21);
    for (const [n, rank] of [
      [37, 8],
      [64, 16],
      [5, 3],
    ] as const) {
      // H = AᵀA + I from a random A (m × n): SPD with a few strong directions.
      const m = 3 * n;
      const a = Float64Array.from({ length: m * n }, () => rng.normal());
      const h = new Float64Array(n * n);
      for (let i = 0; i < m; i++)
        for (let p = 0; p < n; p++)
          for (let q = 0; q < n; q++) h[p * n + q]! += a[i * n + p]! * a[i * n + q]!;
      for (let p = 0; p < n; p++) h[p * n + p]! += 1;
      const diag = Float64Array.from({ length: n }, (_, p) => h[p * n + p]!);
      const gemm = async (x: Float32Array, rows: number): Promise<Float32Array> => {
        const y = new Float32Array(rows * n);
        for (let i = 0; i < rows; i++)
          for (let q = 0; q < n; q++) {
            let s = 0;
            for (let p = 0; p < n; p++) s += x[i * n + p]! * h[p * n + q]!;
            y[i * n + q] = s;
          }
        return y;
      };
      const rows = 6;
      const pre = await buildPreconditioner(n, rows, rank, diag, gemm);
      const { f, invD } = pre.parts;
      const r = pre.rank;
      const mask = Uint8Array.from({ length: rows * n }, (_, i) =>
        i % n === 0 ? 1 : rng.next() < 0.6 ? 1 : 0,
      );
      mask.fill(0, 2 * n, 3 * n); // a row with nothing kept
      for (let row = 0; row < rows; row++) {
        pre.setupRow(row, mask, row * n);
        const want = new Float64Array(r * r);
        for (let j = 0; j < n; j++) {
          if (mask[row * n + j] === 0) continue;
          for (let x = 0; x < r; x++) {
            const v = f[j * r + x]! * invD[j]!;
            for (let y = 0; y <= x; y++) want[x * r + y]! += v * f[j * r + y]!;
          }
        }
        for (let x = 0; x < r; x++) want[x * r + x]! += 1;
        choleskyInPlace(want, r);
        expect(Array.from(pre.parts.factor(row)), `n ${n}, row ${row}`).toEqual(Array.from(want));
        // apply: z = M_K⁻¹·res as the one-column-at-a-time loops computed it (zeros on pruned entries
        // of res, and one exact zero on a kept entry).
        const res = Float64Array.from({ length: n }, (_, j) =>
          mask[row * n + j] === 0 || j === 1 ? 0 : rng.normal(),
        );
        const z = new Float64Array(n);
        pre.apply(row, res, 0, mask, row * n, z);
        const t = new Float64Array(r);
        const zw = new Float64Array(n);
        for (let j = 0; j < n; j++) {
          const u = res[j]! * invD[j]!;
          zw[j] = u;
          if (u === 0) continue;
          for (let x = 0; x < r; x++) t[x]! += u * f[j * r + x]!;
        }
        solveWithFactor(want, r, t);
        for (let j = 0; j < n; j++) {
          if (mask[row * n + j] === 0) continue;
          let sum = 0;
          for (let x = 0; x < r; x++) sum += f[j * r + x]! * t[x]!;
          zw[j]! -= invD[j]! * sum;
        }
        expect(Array.from(z), `apply, n ${n}, row ${row}`).toEqual(Array.from(zw));
      }
      expect(f.some((v) => v !== 0)).toBe(true); // a real low-rank part, not the Jacobi fallback
    }
  });
});
