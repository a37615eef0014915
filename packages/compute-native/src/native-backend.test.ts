// The native backend's matmulTransB against a float64 reference on both sides of the threshold (odd
// sizes, bias, views with a byteOffset, an out buffer), its routing, passthroughs and errors.
import { createWasmBackend, isWasmSimdSupported } from "@mama-prune/compute-wasm";
import { type ComputeBackend, createRng, isPruneError, mirrorUpperToLower } from "@mama-prune/core";
import { afterAll, describe, expect, it, vi } from "vitest";
import { createOrtGemmBackend, type NativeBackend } from "./native-backend.ts";
import { loadOnnxRuntime } from "./node/native-node.ts";
import type { OrtModule, OrtSessionOptions } from "./ort.ts";
import {
  DEFAULT_NATIVE_GEMM_THRESHOLD,
  type NativeGemmThreshold,
  usesNativeGemm,
  usesNativeGram,
} from "./threshold.ts";

function uniform(length: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length }, () => 2 * rng.next() - 1);
}

/** y = x·wᵀ (+ bias) in float64 and the per-entry scale Σ|x·w| (+|bias|) the error is measured in. */
function reference(x: Float32Array, w: Float32Array, m: number, k: number, n: number, bias?: Float32Array) {
  const y = new Float64Array(m * n);
  const scale = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j]! : 0;
      let a = bias ? Math.abs(bias[j]!) : 0;
      for (let t = 0; t < k; t++) {
        const p = x[i * k + t]! * w[j * k + t]!;
        s += p;
        a += Math.abs(p);
      }
      y[i * n + j] = s;
      scale[i * n + j] = a;
    }
  }
  return { y, scale };
}

/** max |got − want| / scale over all entries. */
function maxRelError(got: Float32Array, want: Float64Array, scale: Float64Array): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i]! - want[i]!) / (scale[i]! + 1e-30));
  return e;
}

/**
 * acc0 + xᵀx in float64, and the per-entry scale Σ|xᵢₐxᵢᵦ| (+|acc0|) the error is measured in.
 */
function gramReference(x: Float32Array, m: number, k: number, acc0: Float64Array) {
  const g = Float64Array.from(acc0);
  const scale = acc0.map(Math.abs);
  for (let i = 0; i < m; i++) {
    const r = i * k;
    for (let a = 0; a < k; a++) {
      const xa = x[r + a]!;
      const o = a * k;
      for (let b = 0; b < k; b++) {
        const p = xa * x[r + b]!;
        g[o + b]! += p;
        scale[o + b]! += Math.abs(p);
      }
    }
  }
  return { g, scale };
}

/** float32 GEMM error in units of Σ|x·w|: a few ulps of float32 (2⁻²³ ≈ 1.2e-7) for these k. */
const TOL = 2e-6;

const ort = await loadOnnxRuntime().catch(() => undefined);
const canRun = ort !== undefined && isWasmSimdSupported();

describe.skipIf(!canRun)("createOrtGemmBackend on onnxruntime-node", () => {
  const open: ComputeBackend[] = [];
  afterAll(async () => {
    for (const b of open) await b.dispose?.();
  });
  const make = async (threads = 2, threshold?: Partial<NativeGemmThreshold>): Promise<NativeBackend> => {
    const b = createOrtGemmBackend({
      ort: ort as OrtModule,
      delegate: await createWasmBackend(),
      threads,
      ...(threshold !== undefined ? { threshold } : {}),
    });
    open.push(b);
    return b;
  };

  // [m, k, n, on onnxruntime under the default threshold (minDim 128, m·k·n ≥ 2²²)]
  const SHAPES: [number, number, number, boolean][] = [
    [1, 256, 256, false], // m·k·n below 2²²
    [64, 256, 256, true], // exactly 2²²
    [63, 256, 256, false], // one row short
    [512, 64, 512, false], // k below minDim (stories260K's head)
    [512, 512, 127, false], // n below minDim
    [33, 300, 517, true], // odd sizes
    [7, 1031, 777, true],
    [129, 2048, 260, true],
    [256, 128, 130, true], // k = 128 (SparseGPT's lazy batch): minDim 128
  ];
  for (const [m, k, n, native] of SHAPES) {
    for (const withBias of [false, true]) {
      it(`${m}×${k}×${n}${withBias ? " + bias" : ""} runs on ${native ? "onnxruntime" : "the delegate"} within ${TOL} of float64`, async () => {
        const b = await make();
        expect(usesNativeGemm(m, k, n, DEFAULT_NATIVE_GEMM_THRESHOLD)).toBe(native);
        const x = uniform(m * k, m + k);
        const w = uniform(n * k, n + 3 * k);
        const bias = withBias ? uniform(n, 5 * n) : undefined;
        const before = b.stats();
        const y = await b.matmulTransB(x, w, m, k, n, bias ? { bias } : {});
        const after = b.stats();
        expect(after.nativeCalls - before.nativeCalls).toBe(native ? 1 : 0);
        expect(after.delegatedCalls - before.delegatedCalls).toBe(native ? 0 : 1);
        const { y: want, scale } = reference(x, w, m, k, n, bias);
        const err = maxRelError(y, want, scale);
        expect(err).toBeLessThanOrEqual(TOL);
        // The tolerance can fail: one entry off by 1e-4 of its scale is caught.
        const bad = y.slice();
        bad[m * n - 1] = bad[m * n - 1]! + 1e-4 * scale[m * n - 1]!;
        expect(maxRelError(bad, want, scale)).toBeGreaterThan(TOL);
        if (!native) {
          const d = await createWasmBackend();
          open.push(d);
          expect(y).toEqual(await d.matmulTransB(x, w, m, k, n, bias ? { bias } : {})); // bit for bit
        }
      });
    }
  }

  // [m, k]: two row chunks (4096 + 52) and a last block row of 8; one chunk and odd k.
  for (const [m, k] of [
    [4148, 520],
    [700, 1031],
  ] as const) {
    it(`Gram ${m}×${k} runs on onnxruntime, adds to acc within ${TOL} of float64, exactly symmetric`, async () => {
      const b = await make();
      expect(usesNativeGram(m, k, DEFAULT_NATIVE_GEMM_THRESHOLD)).toBe(true);
      const x = uniform(m * k, 7 * m + k);
      // A symmetric acc that is not zero: the call adds to it.
      const acc = new Float64Array(k * k);
      for (let a = 0; a < k; a++)
        for (let c = a; c < k; c++) acc[a * k + c] = acc[c * k + a] = ((a + 3 * c) % 11) - 5;
      const { g, scale } = gramReference(x, m, k, acc);
      const before = b.stats();
      await b.gramAccumulate(x, m, k, acc);
      expect(b.stats().nativeGramCalls - before.nativeGramCalls).toBe(1);
      expect(b.stats().delegatedCalls).toBe(before.delegatedCalls);
      let err = 0;
      for (let i = 0; i < g.length; i++) err = Math.max(err, Math.abs(acc[i]! - g[i]!) / scale[i]!);
      expect(err).toBeLessThanOrEqual(TOL);
      expect(err).toBeGreaterThan(0); // float32 sums inside a chunk: not float64's values
      let asym = 0;
      for (let a = 0; a < k; a++)
        for (let c = a + 1; c < k; c++) if (acc[a * k + c] !== acc[c * k + a]) asym++;
      expect(asym).toBe(0);
      // The tolerance can fail: one entry off by 1e-4 of its scale is caught.
      const i = (k - 1) * k + 3;
      expect(Math.abs(acc[i]! + 1e-4 * scale[i]! - g[i]!) / scale[i]!).toBeGreaterThan(TOL);
    });
  }

  it("Gram upperOnly: the upper triangle as without it, the lower untouched; a mirror gives the full result bit for bit (onnxruntime and delegate, several calls)", async () => {
    const b = await make();
    expect(b.gramUpperOnly).toBe(true);
    for (const [m, k, native] of [
      [1100, 700, true], // block rows of 512 over 700 columns
      [600, 511, false], // the delegate's Gram
    ] as const) {
      expect(usesNativeGram(m, k, DEFAULT_NATIVE_GEMM_THRESHOLD)).toBe(native);
      const full = new Float64Array(k * k);
      const upper = new Float64Array(k * k).fill(Number.NaN); // the lower triangle must stay NaN
      for (let a = 0; a < k; a++)
        for (let c = a; c < k; c++) upper[a * k + c] = full[a * k + c] = (a + c) % 5;
      for (let a = 0; a < k; a++) for (let c = 0; c < a; c++) full[a * k + c] = full[c * k + a]!;
      for (let call = 0; call < 2; call++) {
        const x = uniform(m * k, 90 + 7 * call + k);
        await b.gramAccumulate(x, m, k, full);
        await b.gramAccumulate(x, m, k, upper, { upperOnly: true });
      }
      let upperDiff = 0;
      let lowerTouched = 0;
      for (let a = 0; a < k; a++) {
        for (let c = 0; c < k; c++) {
          const i = a * k + c;
          if (c >= a && !Object.is(upper[i], full[i])) upperDiff++;
          if (c < a && native && !Number.isNaN(upper[i]!)) lowerTouched++;
        }
      }
      expect(upperDiff).toBe(0);
      expect(lowerTouched).toBe(0); // onnxruntime skipped the lower triangle
      mirrorUpperToLower(upper, k);
      expect(upper).toEqual(full);
    }
  });

  it("Gram: narrower than gramMinCols goes to the delegate (its values bit for bit); views at a byteOffset", async () => {
    const b = await make();
    const [m, k] = [600, 511];
    expect(usesNativeGram(m, k, DEFAULT_NATIVE_GEMM_THRESHOLD)).toBe(false);
    const x = uniform(m * k, 31);
    const acc = new Float64Array(k * k);
    await b.gramAccumulate(x, m, k, acc);
    expect(b.stats().nativeGramCalls).toBe(0);
    const d = await createWasmBackend();
    open.push(d);
    const want = new Float64Array(k * k);
    await d.gramAccumulate(x, m, k, want);
    expect(acc).toEqual(want);
    // A view at a byteOffset on onnxruntime (gramMinCols and minMkn 0): the same as the copy.
    const c = await make(2, { gramMinCols: 0, minMkn: 0 });
    const big = uniform(5 + 40 * 9, 32);
    const view = big.subarray(5);
    const a1 = new Float64Array(81);
    const a2 = new Float64Array(81);
    await c.gramAccumulate(view, 40, 9, a1);
    await c.gramAccumulate(view.slice(), 40, 9, a2);
    expect(c.stats().nativeGramCalls).toBe(2);
    expect(a1).toEqual(a2);
    const { g, scale } = gramReference(view, 40, 9, new Float64Array(81));
    for (let i = 0; i < 81; i++) expect(Math.abs(a1[i]! - g[i]!) / scale[i]!).toBeLessThanOrEqual(TOL);
    await expect(c.gramAccumulate(view, 40, 9, new Float64Array(80))).rejects.toThrow(
      /gramAccumulate: acc has 80 elements, expected k·k = 81/,
    );
  });

  it("reads views at a byteOffset, writes into `out`, and reuses one session per (k, n, bias)", async () => {
    const b = await make(1, { minDim: 0, minMkn: 0 }); // everything on onnxruntime
    const [m, k, n] = [5, 37, 19];
    const xBig = uniform(3 + m * k, 1);
    const wBig = uniform(1 + n * k, 2);
    const x = xBig.subarray(3, 3 + m * k);
    const w = wBig.subarray(1);
    const outBig = new Float32Array(2 + m * n).fill(Number.NaN);
    const out = outBig.subarray(2);
    const r = await b.matmulTransB(x, w, m, k, n, { out });
    expect(r).toBe(out);
    expect(Number.isNaN(outBig[0]!) && Number.isNaN(outBig[1]!)).toBe(true); // nothing written before the view
    const { y: want, scale } = reference(x, w, m, k, n);
    expect(maxRelError(out, want, scale)).toBeLessThanOrEqual(TOL);
    await b.matmulTransB(uniform(9 * k, 3), w, 9, k, n); // another m: the same session
    expect(b.stats()).toEqual({ nativeCalls: 2, delegatedCalls: 0, nativeGramCalls: 0, sessions: 1 });
    await b.matmulTransB(x, w, m, k, n, { bias: uniform(n, 4) });
    expect(b.stats().sessions).toBe(2);
  });

  it("keeps concurrent calls apart (each result its own)", async () => {
    const b = await make(2, { minDim: 0, minMkn: 0 });
    const [m, k, n] = [40, 300, 280];
    const xs = [0, 1, 2, 3].map((s) => uniform(m * k, 10 + s));
    const w = uniform(n * k, 20);
    const ys = await Promise.all(xs.map((x) => b.matmulTransB(x, w, m, k, n)));
    for (const [i, x] of xs.entries()) {
      const { y: want, scale } = reference(x, w, m, k, n);
      expect(maxRelError(ys[i]!, want, scale)).toBeLessThanOrEqual(TOL);
    }
  });

  it("sends narrow Grams, column norms, attention, SwiGLU and invalidate to the delegate; dispose disposes it", async () => {
    const d = await createWasmBackend();
    const spies = {
      gram: vi.spyOn(d, "gramAccumulate"),
      col: vi.spyOn(d, "colSqNormAccumulate"),
      swiglu: vi.spyOn(d, "swiglu"),
      rowMaxSumExp: vi.spyOn(d, "rowMaxSumExp"),
      invalidate: vi.spyOn(d, "invalidate"),
      dispose: vi.spyOn(d, "dispose"),
    };
    const b = createOrtGemmBackend({ ort: ort as OrtModule, delegate: d, threads: 1 });
    expect(b.name).toBe("onnxruntime x1 + wasm-simd x1");
    const x = uniform(6 * 4, 9);
    const acc = new Float64Array(16);
    await b.gramAccumulate(x, 6, 4, acc);
    const want = [0, 1, 2, 3, 4, 5].reduce((s, i) => s + x[i * 4]! ** 2, 0);
    expect(Math.abs(acc[0]! - want) / want).toBeLessThan(1e-6); // the delegate's float32 chunk sums
    await b.colSqNormAccumulate(x, 6, 4, new Float64Array(4));
    const g = uniform(8, 1);
    const out = new Float32Array(8);
    await b.swiglu?.(g, uniform(8, 2), out);
    const max = new Float64Array(2);
    const sum = new Float64Array(2);
    await b.rowMaxSumExp?.(Float32Array.of(0, 1, -1, 3), 2, 2, max, sum);
    expect(Array.from(max)).toEqual([1, 3]);
    expect(Array.from(sum)).toEqual([Math.exp(-1) + 1, Math.exp(-4) + 1]);
    b.invalidate(x);
    expect(
      [spies.gram, spies.col, spies.swiglu, spies.rowMaxSumExp, spies.invalidate].map(
        (s) => s.mock.calls.length,
      ),
    ).toEqual([1, 1, 1, 1, 1]);
    expect(spies.invalidate.mock.calls[0]?.[0]).toBe(x);
    expect(typeof b.causalAttentionWindows).toBe("function");
    await b.dispose();
    await b.dispose(); // twice is fine
    expect(spies.dispose).toHaveBeenCalledTimes(1);
    await expect(b.matmulTransB(x, x, 6, 4, 6)).rejects.toThrow(/disposed/);
  });

  it("offers attention, SwiGLU and the row max / Σ exp only when the delegate has them", () => {
    const plain: ComputeBackend = {
      name: "plain",
      matmulTransB: async () => new Float32Array(0),
      gramAccumulate: async () => {},
      colSqNormAccumulate: async () => {},
      invalidate: () => {},
    };
    const b = createOrtGemmBackend({ ort: ort as OrtModule, delegate: plain, threads: 1 });
    expect(b.causalAttentionWindows).toBeUndefined();
    expect(b.swiglu).toBeUndefined();
    expect(b.rowMaxSumExp).toBeUndefined();
  });

  it("rejects bad shapes naming the operand, and bad threads / threshold naming the option", async () => {
    const b = await make(1);
    await expect(b.matmulTransB(new Float32Array(5), new Float32Array(6), 2, 3, 2)).rejects.toThrow(
      /x has 5 elements, expected m·k = 6/,
    );
    await expect(
      b.matmulTransB(new Float32Array(6), new Float32Array(6), 2, 3, 2, { bias: new Float32Array(3) }),
    ).rejects.toThrow(/bias has 3 elements, expected n = 2/);
    const d = await createWasmBackend();
    open.push(d);
    expect(() => createOrtGemmBackend({ ort: ort as OrtModule, delegate: d, threads: 0 })).toThrow(
      /threads must be an integer in \[1, 256\], got 0/,
    );
    expect(() =>
      createOrtGemmBackend({ ort: ort as OrtModule, delegate: d, threads: 1, threshold: { minDim: -1 } }),
    ).toThrow(/threshold\.minDim must be a non-negative integer, got "-1"/);
  });
});

/** A stand-in for onnxruntime's Tensor: keeps the data, ignores type and dims. */
class FakeTensor {
  readonly data: Float32Array;
  constructor(_t: string, data: Float32Array, _d: readonly number[]) {
    this.data = data;
  }
}

describe.skipIf(!isWasmSimdSupported())("createOrtGemmBackend session options", () => {
  it("turns onnxruntime's spin-waiting off unless `spinning: true`; rejects a non-boolean", async () => {
    const seen: OrtSessionOptions[] = [];
    const fake: OrtModule = {
      Tensor: FakeTensor,
      InferenceSession: {
        create: async (_m, options) => {
          seen.push(options);
          return { run: async () => ({}), release: async () => {} };
        },
      },
    };
    const call = (b: NativeBackend) =>
      b.matmulTransB(new Float32Array(300 * 300), new Float32Array(300 * 300), 300, 300, 300).catch(() => 0);
    const off = createOrtGemmBackend({ ort: fake, delegate: await createWasmBackend(), threads: 2 });
    const on = createOrtGemmBackend({
      ort: fake,
      delegate: await createWasmBackend(),
      threads: 2,
      spinning: true,
    });
    await call(off);
    await call(on);
    expect(seen.map((o) => o.extra.session.intra_op.allow_spinning)).toEqual(["0", "1"]);
    expect(seen[0]!.intraOpNumThreads).toBe(2);
    expect(off.name).toMatch(/^onnxruntime x2 \+ wasm/);
    expect(on.name).toMatch(/^onnxruntime x2 \(spinning\) \+ wasm/);
    await off.dispose();
    await on.dispose();
    const d = await createWasmBackend();
    expect(() =>
      createOrtGemmBackend({ ort: fake, delegate: d, threads: 1, spinning: "yes" as unknown as boolean }),
    ).toThrow(/spinning must be a boolean, got yes/);
    await d.dispose();
  });
});

describe.skipIf(!isWasmSimdSupported())("createOrtGemmBackend with a failing onnxruntime", () => {
  it("wraps a failed run in BACKEND_WORKER_FAILED naming the shapes", async () => {
    const fake: OrtModule = {
      Tensor: FakeTensor,
      InferenceSession: {
        create: async () => ({
          run: async () => {
            throw new Error("bad allocation");
          },
          release: async () => {},
        }),
      },
    };
    const b = createOrtGemmBackend({ ort: fake, delegate: await createWasmBackend(), threads: 1 });
    const e = await b
      .matmulTransB(new Float32Array(300 * 300), new Float32Array(300 * 300), 300, 300, 300)
      .catch((x: unknown) => x);
    expect(isPruneError(e, "BACKEND_WORKER_FAILED")).toBe(true);
    expect(String(e)).toMatch(/x \[300, 300\] · w \[300, 300\]ᵀ.*bad allocation/);
    const g = await b
      .gramAccumulate(new Float32Array(600 * 600), 600, 600, new Float64Array(600 * 600))
      .catch((x: unknown) => x);
    expect(isPruneError(g, "BACKEND_WORKER_FAILED")).toBe(true);
    expect(String(g)).toMatch(/gramAccumulate: onnxruntime failed on x \[600, 600\]ᵀ·x.*bad allocation/);
    await b.dispose();
  });
});
