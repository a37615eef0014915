// Reverse-mode (backward) kernels of each operation of the Llama decoder, in plain loops over
// Float32Array or Float64Array, plus the linear algebra of training. The forward of every operation
// is @mama-prune/model's (the one forward implementation); the `…Forward` functions here are thin
// adapters that also return what the backward needs. The float64 instantiation is the reference
// for the finite-difference checks; the float32 one is what training runs.
import type { ComputeBackend } from "@mama-prune/core";
import {
  applyRope,
  buildRope,
  causalAttentionWindows,
  type RopeTable,
  rmsNorm,
  swiglu,
} from "@mama-prune/model";
import type { Tensor } from "./params.ts";

/**
 * Allocate a zeroed array of the same element type as `like`.
 *
 * @example
 * zerosLike(new Float64Array(2), 3); // Float64Array [0, 0, 0]
 */
export function zerosLike(like: Tensor, n: number): Tensor {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

// ---- Linear algebra ----

/**
 * The three products of a linear layer y = x·wᵀ and its backward, with x [m, k] and w [n, k]:
 * forward y = x·wᵀ [m, n], input gradient dx = dy·w [m, k], weight gradient dw = dyᵀ·x [n, k].
 */
export interface Linalg {
  /** Element type of every array this linalg allocates. */
  readonly precision: "f32" | "f64";
  /** y [m, n] = x [m, k] · w [n, k]ᵀ (+ bias [n]). */
  linear(x: Tensor, w: Tensor, m: number, k: number, n: number, bias?: Tensor): Promise<Tensor>;
  /** dx [m, k] = dy [m, n] · w [n, k]. */
  linearGradInput(dy: Tensor, w: Tensor, m: number, k: number, n: number): Promise<Tensor>;
  /** dw [n, k] += dy [m, n]ᵀ · x [m, k]. */
  linearGradWeight(dy: Tensor, x: Tensor, m: number, k: number, n: number, dw: Tensor): Promise<void>;
}

/**
 * Transpose a row-major [rows, cols] matrix into a new float32 [cols, rows] one.
 *
 * @example
 * transposeF32(Float32Array.of(1, 2, 3, 4, 5, 6), 2, 3); // Float32Array [1, 4, 2, 5, 3, 6]
 */
export function transposeF32(a: Tensor, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols); // (cols, rows)
  // 8-row tiles keep both the reads and the writes in cache lines.
  for (let i0 = 0; i0 < rows; i0 += 8) {
    const i1 = Math.min(rows, i0 + 8);
    for (let j = 0; j < cols; j++) {
      const o = j * rows;
      for (let i = i0; i < i1; i++) t[o + i] = a[i * cols + j]!;
    }
  }
  return t;
}

function asF32(a: Tensor): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}

/**
 * Float32 linear algebra through a ComputeBackend's `matmulTransB` only: the backward products are
 * turned into x·wᵀ form with transposed copies (dx = dy·w = dy·(wᵀ)ᵀ, dw = dyᵀ·x = (dyᵀ)·(xᵀ)ᵀ), so
 * any backend (JS, WebAssembly, WebGPU) accelerates the backward as well as the forward. The
 * transposes cost O(size) next to the O(m·n·k) products.
 *
 * @example
 * const la = backendLinalg(createCpuBackend());
 */
export function backendLinalg(backend: ComputeBackend): Linalg {
  return {
    precision: "f32",
    linear: (x, w, m, k, n, bias) =>
      backend.matmulTransB(asF32(x), asF32(w), m, k, n, bias ? { bias: asF32(bias) } : undefined),
    linearGradInput: (dy, w, m, k, n) => backend.matmulTransB(asF32(dy), transposeF32(w, n, k), m, n, k),
    async linearGradWeight(dy, x, m, k, n, dw): Promise<void> {
      const g = await backend.matmulTransB(transposeF32(dy, m, n), transposeF32(x, m, k), n, m, k); // (n, k)
      for (let i = 0; i < g.length; i++) dw[i] = dw[i]! + g[i]!;
    },
  };
}

/**
 * Float64 linear algebra in plain loops: the reference precision for gradient checks (central
 * differences in float64 have ~1e-10 noise instead of float32's ~1e-4).
 *
 * @example
 * const la = float64Linalg();
 */
export function float64Linalg(): Linalg {
  return {
    precision: "f64",
    async linear(x, w, m, k, n, bias): Promise<Tensor> {
      const y = new Float64Array(m * n); // (m, n)
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = bias ? bias[j]! : 0;
          for (let p = 0; p < k; p++) s += x[i * k + p]! * w[j * k + p]!;
          y[i * n + j] = s;
        }
      }
      return y;
    },
    async linearGradInput(dy, w, m, k, n): Promise<Tensor> {
      const dx = new Float64Array(m * k); // (m, k)
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          const g = dy[i * n + j]!;
          if (g === 0) continue;
          for (let p = 0; p < k; p++) dx[i * k + p] = dx[i * k + p]! + g * w[j * k + p]!;
        }
      }
      return dx;
    },
    async linearGradWeight(dy, x, m, k, n, dw): Promise<void> {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          const g = dy[i * n + j]!;
          if (g === 0) continue;
          for (let p = 0; p < k; p++) dw[j * k + p] = dw[j * k + p]! + g * x[i * k + p]!;
        }
      }
    },
  };
}

/**
 * db [n] += Σ_rows dy [m, n] (gradient of a bias added to every row).
 *
 * @example
 * const db = new Float32Array(2); biasGrad(Float32Array.of(1, 2, 3, 4), 2, 2, db); // db = [4, 6]
 */
export function biasGrad(dy: Tensor, m: number, n: number, db: Tensor): void {
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) db[j] = db[j]! + dy[i * n + j]!;
}

// ---- RMSNorm ----

/**
 * RMSNorm forward y = w ⊙ x·r with r = 1/√(mean(x²) + eps) per row (`@mama-prune/model`'s
 * `rmsNorm`: float32 rounding of r and x·r for float32 arrays); returns y and r [rows].
 *
 * @example
 * const { y, r } = rmsNormForward(x, w, rows, dim, 1e-5);
 */
export function rmsNormForward(
  x: Tensor,
  w: Tensor,
  rows: number,
  dim: number,
  eps: number,
): { y: Tensor; r: Float64Array } {
  const r = new Float64Array(rows); // (rows,)
  const y = rmsNorm(x, w, rows, dim, eps, zerosLike(x, rows * dim), r); // (rows, dim)
  return { y, r };
}

/**
 * RMSNorm backward: given dy, returns dx and adds dw. With x̂ = x·r:
 * dw += Σ_rows dy ⊙ x̂;  dx = r·(g − x̂·mean(g ⊙ x̂)) where g = dy ⊙ w.
 *
 * @example
 * const dx = rmsNormBackward(dy, x, w, r, rows, dim, dw);
 */
export function rmsNormBackward(
  dy: Tensor,
  x: Tensor,
  w: Tensor,
  r: Float64Array,
  rows: number,
  dim: number,
  dw: Tensor,
): Tensor {
  const dx = zerosLike(x, rows * dim); // (rows, dim)
  for (let i = 0; i < rows; i++) {
    const o = i * dim;
    const ri = r[i]!;
    let dot = 0;
    for (let j = 0; j < dim; j++) {
      const xh = x[o + j]! * ri;
      const g = dy[o + j]! * w[j]!;
      dot += g * xh;
      dw[j] = dw[j]! + dy[o + j]! * xh;
    }
    const mean = dot / dim;
    for (let j = 0; j < dim; j++) dx[o + j] = ri * (dy[o + j]! * w[j]! - x[o + j]! * ri * mean);
  }
  return dx;
}

// ---- RoPE (Hugging Face rotate-half) ----

/** cos/sin tables [positions, headDim/2] of rotate-half RoPE: `@mama-prune/model`'s `RopeTable`. */
export type RopeTables = RopeTable;

/**
 * RoPE tables with the inverse frequencies, angles and cos/sin rounded to float32 as
 * `@mama-prune/model` (and HF) compute them: `@mama-prune/model`'s `buildRope`.
 *
 * @example
 * const rope = buildRopeTables(128, 8, 10000);
 */
export function buildRopeTables(positions: number, headDim: number, theta: number): RopeTables {
  return buildRope(positions, { headDim, ropeTheta: theta });
}

/**
 * Rotate-half RoPE in place on x [rows, heads·headDim], row r at position r mod seqLen (windows of
 * seqLen rows). The forward is `@mama-prune/model`'s `applyRope`; `inverse` applies the transpose
 * rotation, which is the backward of the forward (the rotation is orthogonal):
 * dx1 = dy1·c + dy2·s, dx2 = dy2·c − dy1·s.
 *
 * @example
 * applyRopeRows(q, rows, heads, headDim, seqLen, rope, false);
 */
export function applyRopeRows(
  x: Tensor,
  rows: number,
  heads: number,
  headDim: number,
  seqLen: number,
  rope: RopeTables,
  inverse: boolean,
): void {
  if (!inverse) {
    applyRope(x, rows, heads, headDim, rope, (r) => r % seqLen);
    return;
  }
  const half = headDim / 2;
  const stride = heads * headDim;
  for (let r = 0; r < rows; r++) {
    const t = (r % seqLen) * half;
    for (let h = 0; h < heads; h++) {
      const base = r * stride + h * headDim;
      for (let i = 0; i < half; i++) {
        const c = rope.cos[t + i]!;
        const s = rope.sin[t + i]!;
        const y1 = x[base + i]!;
        const y2 = x[base + i + half]!;
        x[base + i] = y1 * c + y2 * s;
        x[base + i + half] = y2 * c - y1 * s;
      }
    }
  }
}

// ---- Causal grouped-query attention ----

/** Attention shape: query heads share key/value heads in groups of numHeads/numKvHeads. */
export interface AttentionShape {
  readonly batch: number;
  readonly seqLen: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  /** Mistral sliding window (a query sees the last `slidingWindow` keys), if any. */
  readonly slidingWindow: number | undefined;
}

/**
 * Causal GQA attention forward (`@mama-prune/model`'s `causalAttentionWindows`): out [rows, heads·hd]
 * and the softmax probabilities P [batch, heads, seqLen, seqLen] (zeros above the diagonal and
 * outside the window) that the backward needs. Scores and softmax in float64.
 *
 * @example
 * const { out, probs } = attentionForward(q, k, v, shape);
 */
export function attentionForward(
  q: Tensor, // (rows, heads·hd)
  k: Tensor, // (rows, kvHeads·hd)
  v: Tensor, // (rows, kvHeads·hd)
  s: AttentionShape,
): { out: Tensor; probs: Tensor } {
  const { batch, seqLen: T, numHeads, headDim: hd } = s;
  const out = zerosLike(q, batch * T * numHeads * hd); // (rows, qDim)
  const probs = zerosLike(q, batch * numHeads * T * T); // (batch, heads, T, T)
  causalAttentionWindows(q, k, v, out, batch, T, s, probs);
  return { out, probs };
}

/**
 * Causal GQA attention backward. With S = q·kᵀ·scale, P = softmax(S), O = P·V:
 * dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dq = dS·K·scale, dK = dSᵀ·Q·scale;
 * key/value gradients sum over the query heads of their group.
 *
 * @example
 * const { dq, dk, dv } = attentionBackward(dOut, q, k, v, probs, shape);
 */
export function attentionBackward(
  dOut: Tensor, // (rows, heads·hd)
  q: Tensor,
  k: Tensor,
  v: Tensor,
  probs: Tensor, // (batch, heads, T, T)
  s: AttentionShape,
): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const { batch, seqLen: T, numHeads, numKvHeads, headDim: hd } = s;
  const qDim = numHeads * hd;
  const kvDim = numKvHeads * hd;
  const group = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(hd);
  const dq = zerosLike(q, batch * T * qDim); // (rows, qDim)
  const dk = zerosLike(k, batch * T * kvDim); // (rows, kvDim)
  const dv = zerosLike(v, batch * T * kvDim); // (rows, kvDim)
  const dP = new Float64Array(T); // (T,)
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < numHeads; h++) {
      const ko = Math.floor(h / group) * hd;
      const pBase = (b * numHeads + h) * T * T;
      for (let i = 0; i < T; i++) {
        const qi = (b * T + i) * qDim + h * hd;
        const lo = s.slidingWindow === undefined ? 0 : Math.max(0, i - s.slidingWindow + 1);
        const pRow = pBase + i * T;
        let rowDot = 0;
        for (let j = lo; j <= i; j++) {
          const vj = (b * T + j) * kvDim + ko;
          const p = probs[pRow + j]!;
          let dot = 0;
          for (let d = 0; d < hd; d++) {
            const g = dOut[qi + d]!;
            dot += g * v[vj + d]!;
            dv[vj + d] = dv[vj + d]! + p * g;
          }
          dP[j] = dot;
          rowDot += dot * p;
        }
        for (let j = lo; j <= i; j++) {
          const dS = probs[pRow + j]! * (dP[j]! - rowDot) * scale;
          if (dS === 0) continue;
          const kj = (b * T + j) * kvDim + ko;
          for (let d = 0; d < hd; d++) {
            dq[qi + d] = dq[qi + d]! + dS * k[kj + d]!;
            dk[kj + d] = dk[kj + d]! + dS * q[qi + d]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

// ---- SwiGLU ----

/**
 * a = silu(g) ⊙ u elementwise (the MLP's activation; `@mama-prune/model`'s `swiglu`).
 *
 * @example
 * const a = swigluForward(g, u);
 */
export function swigluForward(g: Tensor, u: Tensor): Tensor {
  return swiglu(g, u, zerosLike(g, g.length)); // (rows, I)
}

/**
 * SwiGLU backward: dg = da ⊙ u ⊙ σ(g)(1 + g(1 − σ(g))), du = da ⊙ silu(g).
 *
 * @example
 * const { dg, du } = swigluBackward(da, g, u);
 */
export function swigluBackward(da: Tensor, g: Tensor, u: Tensor): { dg: Tensor; du: Tensor } {
  const dg = zerosLike(g, g.length); // (rows, I)
  const du = zerosLike(g, g.length); // (rows, I)
  for (let i = 0; i < g.length; i++) {
    const x = g[i]!;
    const sg = 1 / (1 + Math.exp(-x));
    du[i] = da[i]! * x * sg;
    dg[i] = da[i]! * u[i]! * sg * (1 + x * (1 - sg));
  }
  return { dg, du };
}
