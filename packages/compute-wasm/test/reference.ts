// Naive scalar references used by the tests (float64 sums, textbook loops) and error bounds.
import { createRng } from "@mama-prune/core";

/** Uniform values in [-1, 1) from a seed. */
export function uniform(length: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const a = new Float32Array(length); // (length,)
  for (let i = 0; i < length; i++) a[i] = 2 * rng.next() - 1;
  return a;
}

/** y = x · wᵀ (+ bias) in float64, plus the per-output bound Σ_k |x||w| used for tolerances. */
export function refMatmul(
  x: Float32Array,
  w: Float32Array,
  m: number,
  k: number,
  n: number,
  bias?: Float32Array,
): { y: Float64Array; scale: Float64Array } {
  const y = new Float64Array(m * n); // (m, n)
  const scale = new Float64Array(m * n); // (m, n)
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? (bias[j] as number) : 0;
      let a = bias ? Math.abs(bias[j] as number) : 0;
      for (let t = 0; t < k; t++) {
        const p = (x[i * k + t] as number) * (w[j * k + t] as number);
        s += p;
        a += Math.abs(p);
      }
      y[i * n + j] = s;
      scale[i * n + j] = a;
    }
  }
  return { y, scale };
}

/** Largest |got - want| / (scale + tiny), i.e. error in units of the magnitude sum. */
export function maxRelError(got: ArrayLike<number>, want: Float64Array, scale: Float64Array): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs((got[i] as number) - (want[i] as number)) / ((scale[i] as number) + 1e-30);
    if (!(d <= e)) e = d; // NaN propagates as a failure
  }
  return e;
}
