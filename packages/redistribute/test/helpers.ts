// Test helpers: seeded fixtures and deliberately naive, independent reference implementations.

import { type ComputeBackend, createRng, type MatmulOptions, type Matrix, matrix } from "@mama-prune/core";

/** Seeded N(0, 1) weight matrix. */
export function randomWeight(rows: number, cols: number, seed: number): Matrix {
  const rng = createRng(seed);
  const data = new Float32Array(rows * cols); // (rows, cols)
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return matrix(rows, cols, data);
}

/**
 * Seeded correlated calibration inputs X = Z·A + μ (tokens, n) and their Gram matrix H = XᵀX.
 * `mix` controls the strength of the correlations (0 = independent columns).
 */
export function randomInputs(
  tokens: number,
  n: number,
  seed: number,
  mix = 0.7,
  meanScale = 0,
): { x: Float64Array; h: Float64Array; mean: Float64Array } {
  const rng = createRng(seed);
  const a = new Float64Array(n * n); // (n, n)
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) a[i * n + j] = (i === j ? 1 : 0) + mix * rng.normal();
  const mu = new Float64Array(n); // (n,)
  for (let j = 0; j < n; j++) mu[j] = meanScale * rng.normal();
  const x = new Float64Array(tokens * n); // (tokens, n)
  const z = new Float64Array(n); // (n,)
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < n; i++) z[i] = rng.normal() * (1 + (i % 3)); // uneven column scales
    for (let j = 0; j < n; j++) {
      let s = mu[j]!;
      for (let i = 0; i < n; i++) s += z[i]! * a[i * n + j]!;
      x[t * n + j] = s;
    }
  }
  const h = gram(x, tokens, n);
  const mean = new Float64Array(n); // (n,)
  for (let t = 0; t < tokens; t++) for (let j = 0; j < n; j++) mean[j]! += x[t * n + j]! / tokens;
  return { x, h, mean };
}

/** XᵀX by the definition. */
export function gram(x: Float64Array, tokens: number, n: number): Float64Array {
  const h = new Float64Array(n * n); // (n, n)
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < n; i++) {
      const xi = x[t * n + i]!;
      for (let j = 0; j < n; j++) h[i * n + j]! += xi * x[t * n + j]!;
    }
  }
  return h;
}

/** Solve A·x = b (A n×n) by Gaussian elimination with partial pivoting (no Cholesky involved). */
export function gaussSolve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const m = new Float64Array(a); // (n, n)
  const x = new Float64Array(b); // (n,)
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]!) > Math.abs(m[piv * n + c]!)) piv = r;
    if (piv !== c) {
      for (let k = 0; k < n; k++) {
        const t = m[c * n + k]!;
        m[c * n + k] = m[piv * n + k]!;
        m[piv * n + k] = t;
      }
      const t = x[c]!;
      x[c] = x[piv]!;
      x[piv] = t;
    }
    for (let r = c + 1; r < n; r++) {
      const f = m[r * n + c]! / m[c * n + c]!;
      if (f === 0) continue;
      for (let k = c; k < n; k++) m[r * n + k]! -= f * m[c * n + k]!;
      x[r]! -= f * x[c]!;
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    let s = x[c]!;
    for (let k = c + 1; k < n; k++) s -= m[c * n + k]! * x[k]!;
    x[c] = s / m[c * n + c]!;
  }
  return x;
}

/** A⁻¹ by Gauss–Jordan, column by column through gaussSolve. */
export function gaussInverse(a: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n); // (n, n)
  for (let c = 0; c < n; c++) {
    const e = new Float64Array(n); // (n,)
    e[c] = 1;
    const col = gaussSolve(a, e, n);
    for (let r = 0; r < n; r++) inv[r * n + c] = col[r]!;
  }
  return inv;
}

/** Upper Cholesky factor of a SPD matrix by the textbook column formula (A = UᵀU). */
export function naiveUpperCholesky(a: Float64Array, n: number): Float64Array {
  const u = new Float64Array(n * n); // (n, n)
  for (let i = 0; i < n; i++) {
    let s = a[i * n + i]!;
    for (let k = 0; k < i; k++) s -= u[k * n + i]! ** 2;
    u[i * n + i] = Math.sqrt(s);
    for (let j = i + 1; j < n; j++) {
      let t = a[i * n + j]!;
      for (let k = 0; k < i; k++) t -= u[k * n + i]! * u[k * n + j]!;
      u[i * n + j] = t / u[i * n + i]!;
    }
  }
  return u;
}

/** (W − W')ᵀ H (W − W') summed over rows, by the definition through X: ‖X(W − W')ᵀ‖². */
export function errorThroughInputs(
  w: Float32Array | Float64Array,
  w2: Float32Array | Float64Array,
  x: Float64Array,
  rows: number,
  n: number,
  tokens: number,
): number {
  let total = 0;
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += x[t * n + j]! * (w[r * n + j]! - w2[r * n + j]!);
      total += s * s;
    }
  }
  return total;
}

/** Random keep-mask with (about) the given sparsity, from a seed. */
export function randomMask(rows: number, cols: number, sparsity: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const m = new Uint8Array(rows * cols); // (rows, cols)
  for (let i = 0; i < m.length; i++) m[i] = rng.next() < sparsity ? 0 : 1;
  return m;
}

/**
 * SparseGPT without lazy batching, written from the paper's equations: U from a Gauss–Jordan inverse
 * and a textbook upper Cholesky (the anchor's cholesky_inverse → cholesky path); every pruned column
 * updates ALL later columns immediately. The adaptive mask is still chosen per block of `blockSize`
 * columns, from the then-current weights, with the same count and tie rules.
 */
export function referenceSparseGpt(
  w0: Matrix,
  h0: Float64Array,
  opts: {
    sparsity?: number | { n: number; m: number };
    mask?: Uint8Array;
    blockSize: number;
    percdamp: number;
  },
): { weight: Float64Array; mask: Uint8Array } {
  const { rows, cols: n } = w0;
  const h = new Float64Array(h0);
  const w = new Float64Array(w0.data);
  let sum = 0;
  for (let j = 0; j < n; j++) {
    if (h[j * n + j] === 0) {
      h[j * n + j] = 1;
      for (let r = 0; r < rows; r++) w[r * n + j] = 0;
    }
    sum += h[j * n + j]!;
  }
  const damp = (opts.percdamp * sum) / n;
  for (let j = 0; j < n; j++) h[j * n + j]! += damp;
  const u = naiveUpperCholesky(gaussInverse(h, n), n);
  const mask = opts.mask ? new Uint8Array(opts.mask) : new Uint8Array(rows * n).fill(1);
  const s = opts.sparsity;
  for (let i1 = 0; i1 < n; i1 += opts.blockSize) {
    const i2 = Math.min(i1 + opts.blockSize, n);
    if (!opts.mask && typeof s === "number") {
      const count = Math.floor(s * rows * i2) - Math.floor(s * rows * i1);
      const items: { score: number; idx: number }[] = [];
      for (let r = 0; r < rows; r++) {
        for (let c = i1; c < i2; c++) {
          items.push({ score: w[r * n + c]! ** 2 / u[c * n + c]! ** 2, idx: r * (i2 - i1) + (c - i1) });
        }
      }
      items.sort((a, b) => a.score - b.score || a.idx - b.idx);
      for (let t = 0; t < count; t++) {
        const idx = items[t]!.idx;
        mask[Math.floor(idx / (i2 - i1)) * n + i1 + (idx % (i2 - i1))] = 0;
      }
    }
    for (let j = i1; j < i2; j++) {
      for (let r = 0; r < rows; r++) {
        if (!opts.mask && typeof s === "object" && j % s.m === 0) {
          // A tail group of the row's last n % m columns loses floor(N·width/M).
          const width = Math.min(s.m, n - j);
          const g = [];
          for (let t = 0; t < width; t++)
            g.push({ t, score: w[r * n + j + t]! ** 2 / u[(j + t) * n + j + t]! ** 2 });
          g.sort((a, b) => a.score - b.score || a.t - b.t);
          const k = width === s.m ? s.n : Math.floor((s.n * width) / s.m);
          for (let t = 0; t < k; t++) mask[r * n + j + g[t]!.t] = 0;
        }
        if (mask[r * n + j] === 1) continue;
        const e = w[r * n + j]! / u[j * n + j]!;
        for (let k = j; k < n; k++) w[r * n + k]! -= e * u[j * n + k]!;
        w[r * n + j] = 0;
      }
    }
  }
  return { weight: w, mask };
}

/**
 * A deliberately plain float32 ComputeBackend for tests (the package cannot depend on
 * @mama-prune/model's CPU backend): y = x·wᵀ accumulated in float64, rounded to float32 once.
 */
export function naiveBackend(): ComputeBackend & { calls: number } {
  const backend = {
    name: "test-js",
    calls: 0,
    async matmulTransB(
      x: Float32Array,
      w: Float32Array,
      m: number,
      k: number,
      n: number,
      options?: MatmulOptions,
    ): Promise<Float32Array> {
      backend.calls++;
      const y = options?.out ?? new Float32Array(m * n); // (m, n)
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = options?.bias?.[j] ?? 0;
          for (let t = 0; t < k; t++) s += x[i * k + t]! * w[j * k + t]!;
          y[i * n + j] = s;
        }
      }
      return y;
    },
    async gramAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
      for (let t = 0; t < m; t++)
        for (let i = 0; i < k; i++)
          for (let j = 0; j < k; j++) acc[i * k + j]! += x[t * k + i]! * x[t * k + j]!;
    },
    async colSqNormAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
      for (let t = 0; t < m; t++) for (let j = 0; j < k; j++) acc[j]! += x[t * k + j]! ** 2;
    },
    invalidate(): void {},
  };
  return backend;
}

/**
 * Seeded Gram matrix shaped like real activations: a few strong shared directions (rank `strong`,
 * scales 10, 5, 3.3, …), log-normal per-channel noise scales, two outlier channels (×20), and the
 * listed dead inputs (always 0, so H_jj = 0). H = XᵀX over `tokens` rows.
 */
export function activationLikeHessian(
  tokens: number,
  n: number,
  seed: number,
  options: { strong?: number; dead?: readonly number[] } = {},
): Float64Array {
  const rng = createRng(seed);
  const strong = options.strong ?? 4;
  const dirs = new Float64Array(strong * n); // (strong, n)
  for (let i = 0; i < dirs.length; i++) dirs[i] = rng.normal() / Math.sqrt(n);
  const scale = new Float64Array(n); // (n,)
  for (let j = 0; j < n; j++) scale[j] = Math.exp(0.5 * rng.normal()) * (j % 37 === 5 ? 20 : 1);
  const dead = new Set(options.dead ?? []);
  const x = new Float64Array(tokens * n); // (tokens, n)
  for (let t = 0; t < tokens; t++) {
    for (let s = 0; s < strong; s++) {
      const c = (10 / (s + 1)) * rng.normal() * Math.sqrt(n);
      for (let j = 0; j < n; j++) x[t * n + j]! += c * dirs[s * n + j]!;
    }
    for (let j = 0; j < n; j++) {
      x[t * n + j]! += scale[j]! * rng.normal() + 0.3;
      if (dead.has(j)) x[t * n + j] = 0;
    }
  }
  return gram(x, tokens, n);
}

/** N:M keep-mask: in every M consecutive inputs of a row, the N of smallest |w| are pruned. */
export function nmMask(w: Matrix, n: number, m: number): Uint8Array {
  const mask = new Uint8Array(w.rows * w.cols).fill(1); // (rows, cols)
  for (let r = 0; r < w.rows; r++) {
    for (let g = 0; g < w.cols; g += m) {
      const idx = Array.from({ length: m }, (_, t) => r * w.cols + g + t);
      idx.sort((a, b) => Math.abs(w.data[a]!) - Math.abs(w.data[b]!));
      for (let t = 0; t < n; t++) mask[idx[t]!] = 0;
    }
  }
  return mask;
}
