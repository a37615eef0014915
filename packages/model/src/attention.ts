// Causal (optionally sliding-window) grouped-query attention, shared by inference (windows and the
// KV cache) and @mama-prune/distill's training forward (which also asks for the probabilities).
import type { LlamaConfig } from "./config.ts";
import type { FloatArray } from "./layers.ts";

/** The head layout attention needs (a LlamaConfig has it). */
export type AttentionHeads = Pick<LlamaConfig, "numHeads" | "numKvHeads" | "headDim" | "slidingWindow">;

/**
 * Causal (optionally sliding-window) grouped-query attention for `nQ` queries at positions
 * past..past+nQ−1 over keys/values at positions 0..past+nQ−1 (query head h reads kv head
 * ⌊h / (heads/kvHeads)⌋). Plain JS loops, not backend matmuls: the loop skips the masked half that
 * a full matmul per head would compute and throw away, and for the shapes we run (head dim 8–128,
 * ≤ 2k positions) attention is a minority of the block's flops. Four consecutive queries of a head
 * are processed together (a 4-query register tile: each key and value element is loaded once for
 * four multiply-adds), which halves the time of the one-query loop. Scores (q·scale)·k, softmax and
 * the weighted sum are float64; each query's output is divided by its softmax normaliser once at
 * the end and stored in `out`'s precision.
 *
 * `probs`, when given (zeroed, [heads, nQ, past+nQ]), receives the softmax probabilities
 * exp(s − max)/Σ (0 for masked keys): what a backward pass needs. The output does not depend on it.
 *
 * @example
 * causalAttention(q, k, v, out, seqLen, 0, cfg); // one window of seqLen tokens
 */
export function causalAttention(
  q: FloatArray, // (nQ, heads·headDim)
  k: FloatArray, // (past + nQ, kvHeads·headDim)
  v: FloatArray, // (past + nQ, kvHeads·headDim)
  out: FloatArray, // (nQ, heads·headDim)
  nQ: number,
  past: number,
  heads: AttentionHeads,
  probs?: FloatArray, // (heads, nQ, past + nQ)
): void {
  const hd = heads.headDim;
  const qDim = heads.numHeads * hd;
  const kvDim = heads.numKvHeads * hd;
  const group = heads.numHeads / heads.numKvHeads;
  const scale = 1 / Math.sqrt(hd);
  const win = heads.slidingWindow;
  const keys = past + nQ;
  const e0 = new Float64Array(keys); // (keys,) scores, then exp(score − max), of query 0 of the tile
  const e1 = new Float64Array(keys); // (keys,)
  const e2 = new Float64Array(keys); // (keys,)
  const e3 = new Float64Array(keys); // (keys,)
  const qt = new Float64Array(4 * hd); // (4, headDim) the tile's queries
  for (let h = 0; h < heads.numHeads; h++) {
    const ko = Math.floor(h / group) * hd;
    for (let i0 = 0; i0 < nQ; i0 += 4) {
      const nb = Math.min(4, nQ - i0);
      // Tile rows beyond nQ repeat the last query (computed, never written).
      const i1 = i0 + Math.min(1, nb - 1);
      const i2 = i0 + Math.min(2, nb - 1);
      const i3 = i0 + Math.min(3, nb - 1);
      for (let d = 0; d < hd; d++) {
        qt[d] = q[i0 * qDim + h * hd + d]! * scale;
        qt[hd + d] = q[i1 * qDim + h * hd + d]! * scale;
        qt[2 * hd + d] = q[i2 * qDim + h * hd + d]! * scale;
        qt[3 * hd + d] = q[i3 * qDim + h * hd + d]! * scale;
      }
      const p0 = past + i0;
      const p1 = past + i1;
      const p2 = past + i2;
      const p3 = past + i3;
      const lo0 = win === undefined ? 0 : Math.max(0, p0 - win + 1);
      const lo1 = win === undefined ? 0 : Math.max(0, p1 - win + 1);
      const lo2 = win === undefined ? 0 : Math.max(0, p2 - win + 1);
      const lo3 = win === undefined ? 0 : Math.max(0, p3 - win + 1);
      // Scores over the union of the four key ranges [lo0, p3].
      for (let j = lo0; j <= p3; j++) {
        const kj = j * kvDim + ko;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let d = 0; d < hd; d++) {
          const kd = k[kj + d]!;
          s0 += qt[d]! * kd;
          s1 += qt[hd + d]! * kd;
          s2 += qt[2 * hd + d]! * kd;
          s3 += qt[3 * hd + d]! * kd;
        }
        e0[j] = s0;
        e1[j] = s1;
        e2[j] = s2;
        e3[j] = s3;
      }
      // Softmax numerators per query over its own range; masked keys get weight 0.
      const z0 = expRange(e0, lo0, p0, p3);
      const z1 = expRange(e1, lo1, p1, p3);
      const z2 = expRange(e2, lo2, p2, p3);
      const z3 = expRange(e3, lo3, p3, p3);
      for (let j = lo0; j < lo3; j++) e3[j] = 0;
      for (let j = lo0; j < lo2; j++) e2[j] = 0;
      for (let j = lo0; j < lo1; j++) e1[j] = 0;
      if (probs) {
        const rowOf = (i: number): number => (h * nQ + i) * keys;
        for (let j = lo0; j <= p3; j++) {
          probs[rowOf(i0) + j] = e0[j]! / z0;
          if (nb > 1) probs[rowOf(i1) + j] = e1[j]! / z1;
          if (nb > 2) probs[rowOf(i2) + j] = e2[j]! / z2;
          if (nb > 3) probs[rowOf(i3) + j] = e3[j]! / z3;
        }
      }
      // Weighted sum of values.
      const o0 = i0 * qDim + h * hd;
      const o1 = i1 * qDim + h * hd;
      const o2 = i2 * qDim + h * hd;
      const o3 = i3 * qDim + h * hd;
      for (let d = 0; d < hd; d++) {
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        for (let j = lo0, vj = lo0 * kvDim + ko + d; j <= p3; j++, vj += kvDim) {
          const vd = v[vj]!;
          a0 += e0[j]! * vd;
          a1 += e1[j]! * vd;
          a2 += e2[j]! * vd;
          a3 += e3[j]! * vd;
        }
        out[o3 + d] = a3 / z3;
        out[o2 + d] = a2 / z2;
        out[o1 + d] = a1 / z1;
        out[o0 + d] = a0 / z0;
      }
    }
  }
}

/** In place: e[j] = exp(e[j] − max) for j in [lo, p], 0 for j in (p, end]; returns Σ. */
function expRange(e: Float64Array, lo: number, p: number, end: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let j = lo; j <= p; j++) if (e[j]! > max) max = e[j]!;
  let z = 0;
  for (let j = lo; j <= p; j++) {
    const x = Math.exp(e[j]! - max);
    e[j] = x;
    z += x;
  }
  for (let j = p + 1; j <= end; j++) e[j] = 0;
  return z;
}

/**
 * {@link causalAttention} over `batch` independent windows of `seqLen` rows (positions 0..seqLen−1
 * in each; rows are window after window). `probs`, when given (zeroed), is
 * [batch, heads, seqLen, seqLen].
 *
 * @example
 * causalAttentionWindows(q, k, v, out, 2, 64, cfg);
 */
export function causalAttentionWindows(
  q: FloatArray, // (batch·seqLen, heads·headDim)
  k: FloatArray, // (batch·seqLen, kvHeads·headDim)
  v: FloatArray, // (batch·seqLen, kvHeads·headDim)
  out: FloatArray, // (batch·seqLen, heads·headDim)
  batch: number,
  seqLen: number,
  heads: AttentionHeads,
  probs?: FloatArray, // (batch, heads, seqLen, seqLen)
): void {
  const qDim = heads.numHeads * heads.headDim;
  const kvDim = heads.numKvHeads * heads.headDim;
  const pSize = heads.numHeads * seqLen * seqLen;
  for (let b = 0; b < batch; b++) {
    const r0 = b * seqLen;
    const r1 = r0 + seqLen;
    causalAttention(
      q.subarray(r0 * qDim, r1 * qDim),
      k.subarray(r0 * kvDim, r1 * kvDim),
      v.subarray(r0 * kvDim, r1 * kvDim),
      out.subarray(r0 * qDim, r1 * qDim),
      seqLen,
      0,
      heads,
      probs?.subarray(b * pSize, (b + 1) * pSize),
    );
  }
}
