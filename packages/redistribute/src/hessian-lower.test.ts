// H kept as the strict lower triangle of its own factor's buffer (sparseGptFactor's keepLowerTriangle):
// the factor is the zero-filled one's, H's triangle survives bit for bit, and every reader of that
// form (pcgRefit's and sparsegpt's hessianLowerTriangle) gives the results of a float32 copy of H.
import { createWasmBackend } from "@mama-prune/compute-wasm";
import { afterAll, describe, expect, it } from "vitest";
import { activationLikeHessian, randomMask, randomWeight } from "../test/helpers.ts";
import { upperCholeskyOfInverseBlocked } from "./blocked-cholesky.ts";
import { fillRowsFromLower, lowerTriangleHessianInfo, lowerTriangleInfo } from "./hessian-lower.ts";
import { pcgRefit } from "./pcg-refit.ts";
import { sparseGptFactor, sparsegpt } from "./sparsegpt.ts";

const backend = await createWasmBackend();
afterAll(async () => {
  await backend.dispose?.();
});

/** The symmetric H's diagonal (float64). */
const diagonalOf = (h: Float64Array, n: number): Float64Array =>
  Float64Array.from({ length: n }, (_, j) => h[j * n + j]!);

describe('upperCholeskyOfInverseBlocked(…, lower: "keep")', () => {
  it("gives the zero-filled factor's U bit for bit and leaves the strict lower triangle as handed in", async () => {
    const n = 300;
    const h = activationLikeHessian(500, n, 81);
    for (let j = 0; j < n; j++) h[j * n + j]! += 0.01;
    const zeroed = new Float64Array(h);
    expect(await upperCholeskyOfInverseBlocked(zeroed, n, backend, 64)).toBe(-1);
    const kept = new Float64Array(h);
    expect(await upperCholeskyOfInverseBlocked(kept, n, backend, 64, undefined, undefined, "keep")).toBe(-1);
    let upperDiffers = 0;
    let lowerDiffers = 0;
    let lowerZero = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (j >= i) upperDiffers += Object.is(kept[i * n + j], zeroed[i * n + j]) ? 0 : 1;
        else {
          lowerDiffers += Object.is(kept[i * n + j], h[i * n + j]) ? 0 : 1;
          lowerZero += zeroed[i * n + j] === 0 ? 1 : 0;
        }
      }
    }
    expect(upperDiffers).toBe(0);
    expect(lowerDiffers).toBe(0);
    expect(lowerZero).toBe((n * (n - 1)) / 2); // the default still zero-fills
  });
});

describe("fillRowsFromLower / lowerTriangleInfo", () => {
  // n = 300: blocks wider than the transpose's 256-column strip, tails of < 8 rows.
  for (const [n, tokens, seed, blocks] of [
    [
      37,
      50,
      82,
      [
        [0, 37],
        [0, 8],
        [8, 8],
        [32, 5],
        [36, 1],
      ],
    ],
    [
      300,
      40,
      84,
      [
        [0, 300],
        [8, 264],
        [100, 13],
        [293, 7],
      ],
    ],
  ] as const) {
    it(`writes the rows of new Float32Array(H) bit for bit from H's strict lower triangle and diagonal (n = ${n})`, () => {
      const h = activationLikeHessian(tokens, n, seed);
      const h32 = new Float32Array(h);
      const lower = new Float64Array(h);
      for (let i = 0; i < n; i++) lower.fill(Number.NaN, i * n + i, (i + 1) * n); // diagonal and above: not H
      const diag = diagonalOf(h, n);
      for (const [j0, c] of blocks) {
        const out = new Float32Array(c * n).fill(-1);
        fillRowsFromLower(lower, diag, n, j0, c, out);
        expect(Array.from(out)).toEqual(Array.from(h32.subarray(j0 * n, (j0 + c) * n)));
      }
    });
  }

  it("rejects a missing diagonal, an entry beyond float32 and a diagonal whose rounding kills an input, by name", () => {
    const n = 4;
    const h = activationLikeHessian(10, n, 83);
    const diag = diagonalOf(h, n);
    expect(() => lowerTriangleInfo("t", h, undefined, n)).toThrow(/hessianDiagonal/);
    expect(() => lowerTriangleInfo("t", new Float32Array(h), diag, n)).toThrow(/float64 hessian/);
    const big = new Float64Array(h);
    big[3 * n + 1] = 1e39; // finite in float64, Infinity in float32
    expect(() => lowerTriangleInfo("t", big, diag, n)).toThrow(/\[3, 1\]/);
    big[3 * n + 1] = h[3 * n + 1]!;
    big[1 * n + 3] = Number.NaN; // above the diagonal: not read
    expect(lowerTriangleInfo("t", big, diag, n).dead).toEqual(new Uint8Array(n));
    const tiny = Float64Array.from(diag);
    tiny[2] = 1e-50; // live in float64, 0 in float32
    expect(() => lowerTriangleInfo("t", h, tiny, n)).toThrow(/hessianDiagonal\[2\]/);
  });
});

describe("readers of H in the lower triangle beside its factor", () => {
  const rows = 64;
  const n = 520; // ≥ 512: SparseGPT's blocked factorisation on the backend
  const h = activationLikeHessian(700, n, 84, { dead: [11] });
  const diag = diagonalOf(h, n);
  const h32 = new Float32Array(h);
  const w = randomWeight(rows, n, 85);

  it("sparseGptFactor(keepLowerTriangle) in H's buffer: U bit for bit, H below it; sparsegpt and pcgRefit read it as the float32 copy", async () => {
    const ref = await sparseGptFactor(new Float64Array(h), n, { backend, overwriteHessian: true });
    const buf = new Float64Array(h);
    const f = await sparseGptFactor(buf, n, { backend, overwriteHessian: true, keepLowerTriangle: true });
    expect(f.upper).toBe(buf);
    expect(f.relDamping).toBe(ref.relDamping);
    for (let i = 0; i < n; i++) {
      expect(Array.from(buf.subarray(i * n + i, (i + 1) * n))).toEqual(
        Array.from(ref.upper.subarray(i * n + i, (i + 1) * n)),
      );
      expect(Array.from(buf.subarray(i * n, i * n + i))).toEqual(Array.from(h.subarray(i * n, i * n + i)));
    }
    const factor = { upper: ref.upper, relDamping: ref.relDamping };
    // sparsegpt with the factor: the float32 copy's results (dead input and mean diagonal included).
    const o = { sparsity: 0.5, backend, percdamp: 0.01 };
    const want = await sparsegpt(w, h32, { ...o, factor });
    const got = await sparsegpt(w, buf, { ...o, factor: f, hessianLowerTriangle: diag });
    expect(Array.from(got.mask)).toEqual(Array.from(want.mask));
    expect(Array.from(got.weight)).toEqual(Array.from(want.weight));
    expect(got.dampingUsed).toBe(want.dampingUsed);
    expect(got.deadInputs).toBe(1);
    expect(got.diagnostics.reconstructionError).toBe(want.diagnostics.reconstructionError);
    await expect(sparsegpt(w, buf, { ...o, hessianLowerTriangle: diag })).rejects.toThrow(
      /needs option factor/,
    );
    // pcgRefit: blocks of H's rows and H whole, against the float32 copy with the float64 diagonal.
    const mask = randomMask(rows, n, 0.5, 86);
    for (const hBlockFloats of [40 * n, n * n]) {
      const p = { backend, maxIterations: 3, hBlockFloats, hDelta: true, hessianDiagonal: diag };
      const a = await pcgRefit(w, h32, mask, p);
      const b = await pcgRefit(w, buf, mask, { ...p, hessianLowerTriangle: true });
      expect(Array.from(b.weight)).toEqual(Array.from(a.weight));
      expect(Array.from(b.hDelta!)).toEqual(Array.from(a.hDelta!));
      expect(b.dampingUsed).toBe(a.dampingUsed);
      expect(b.iterations).toBe(a.iterations);
      expect(b.reconstructionError).toBe(a.reconstructionError);
      expect(a.reconstructionError).toBeLessThan(a.startError);
    }
    await expect(pcgRefit(w, buf, mask, { backend, hessianLowerTriangle: true })).rejects.toThrow(
      /hessianDiagonal/,
    );
  }, 60_000);

  it("lowerTriangleHessianInfo: the facts checkHessian finds in the float32 copy", () => {
    const info = lowerTriangleHessianInfo("t", h, diag, n);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += h32[j * n + j] === 0 ? 1 : h32[j * n + j]!;
    expect(info.meanDiag).toBe(sum / n);
    expect(info.deadCount).toBe(1);
    expect(info.dead[11]).toBe(1);
  });
});
