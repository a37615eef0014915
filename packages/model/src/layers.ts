// Elementwise building blocks of the decoder (plain JS; cheap next to the matmuls): embedding
// lookup, RMSNorm and SwiGLU. Shared by LlamaModel's inference forward and @mama-prune/distill's
// training forward, on float32 arrays (inference and training) or float64 arrays (the reference
// precision of distill's gradient checks).

/** The element storage of the forward's building blocks: float32, or float64 for reference checks. */
export type FloatArray = Float32Array | Float64Array;

/**
 * A zeroed array of `n` elements of the same element type as `like`.
 *
 * @example
 * zerosOf(new Float64Array(2), 3); // Float64Array [0, 0, 0]
 */
export function zerosOf<T extends FloatArray>(like: T, n: number): T {
  return (like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n)) as T;
}

/**
 * Embedding lookup: `out` row i = `table` row tokens[i] ([vocab, dim] → [tokens.length, dim]).
 * Token ids are not checked here (callers validate them against the vocabulary).
 *
 * @example
 * embedRows(embedding, Int32Array.of(1, 5), 64, new Float32Array(2 * 64));
 */
export function embedRows<T extends FloatArray>(
  table: FloatArray,
  tokens: Int32Array,
  dim: number,
  out: T,
): T {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    out.set(table.subarray(t * dim, (t + 1) * dim), i * dim);
  }
  return out;
}

/**
 * RMSNorm as in HF LlamaRMSNorm and llama2.c: out = w · (x · 1/√(mean(x²) + eps)), rows of `dim`.
 * The sum of squares is accumulated in float64 (more accurate than float32, same result to ~1 ulp).
 * When `out` is a Float32Array the scale is rounded to float32 and x·scale is rounded to float32
 * before multiplying by w, as the float32 references do; a Float64Array `out` rounds nothing (the
 * float64 reference of gradient checks). `scales`, when given, receives each row's scale (what
 * the backward needs).
 *
 * @example
 * const xn = rmsNorm(x, w, rows, 64, 1e-5, new Float32Array(rows * 64));
 */
export function rmsNorm<T extends FloatArray>(
  x: FloatArray, // (rows, dim)
  w: FloatArray, // (dim,)
  rows: number,
  dim: number,
  eps: number,
  out: T, // (rows, dim)
  scales?: Float64Array, // (rows,)
): T {
  const f32 = out instanceof Float32Array;
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let j = 0; j < dim; j++) {
      const v = x[o + j]!;
      ss += v * v;
    }
    if (f32) {
      const scale = Math.fround(1 / Math.sqrt(Math.fround(Math.fround(ss / dim) + eps)));
      if (scales) scales[r] = scale;
      for (let j = 0; j < dim; j++) out[o + j] = w[j]! * Math.fround(x[o + j]! * scale);
    } else {
      const scale = 1 / Math.sqrt(ss / dim + eps);
      if (scales) scales[r] = scale;
      for (let j = 0; j < dim; j++) out[o + j] = w[j]! * (x[o + j]! * scale);
    }
  }
  return out;
}

/**
 * SwiGLU activation out = silu(g) · u elementwise (`out` may be `g`: in place).
 *
 * @example
 * swiglu(g, u, g); // g ← silu(g)·u
 */
export function swiglu<T extends FloatArray>(g: FloatArray, u: FloatArray, out: T): T {
  for (let i = 0; i < g.length; i++) {
    const a = g[i]!;
    out[i] = (a / (1 + Math.exp(-a))) * u[i]!;
  }
  return out;
}
