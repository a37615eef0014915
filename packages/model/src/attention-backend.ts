// Causal (optionally sliding-window) grouped-query attention with QKᵀ and P·V as ComputeBackend
// matmuls, and the switch between it and the plain-JS loops of attention.ts that LlamaModel and
// @mama-prune/distill's training forward both go through.
import type { ComputeBackend } from "@mama-prune/core";
import { type AttentionHeads, causalAttention, causalAttentionWindows } from "./attention.ts";
import type { FloatArray } from "./layers.ts";

/**
 * How attention is computed: `"backend"` = QKᵀ and P·V as {@link ComputeBackend.matmulTransB}
 * (float32; see {@link causalAttentionBackend}); `"js"` = the plain-JS float64 loops of
 * {@link causalAttention}. Float64 arrays (reference gradient checks) always take the JS loops.
 */
export type AttentionMode = "backend" | "js";

/** The accepted {@link AttentionMode} values, for option validation. */
export const ATTENTION_MODES: readonly AttentionMode[] = ["backend", "js"];

/**
 * Query positions per backend call: one call covers `QUERY_CHUNK` queries of every query head of a
 * KV group against the keys they can see, so the causal mask wastes at most about a chunk's worth of
 * the triangle (25 % at 512 positions) while each call stays large enough for the backend's threads.
 */
const QUERY_CHUNK = 128;

/**
 * {@link causalAttention} with QKᵀ and P·V on the backend: for each KV head, queries in chunks of 128
 * positions × the query heads of its group form one matrix Q [group·chunk, headDim] (scaled by
 * 1/√headDim), S = Q·K[lo..hi)ᵀ is one `matmulTransB` over the keys the chunk can see, the softmax of
 * each row (over its own causal / sliding-window range, float64 max and sum) is written back as
 * float32 probabilities P with zeros on masked keys, and O = P·V is a second `matmulTransB` with Vᵀ
 * (V transposed once per chunk). Equal to the JS loops within float32 rounding (scores and the
 * weighted sum accumulate in float32 on most backends). Temporary operands are dropped from the
 * backend's weight caches (`invalidate`) after each call.
 *
 * `probs`, when given (zeroed, [heads, nQ, past+nQ]), receives the probabilities as in
 * {@link causalAttention}.
 *
 * @example
 * await causalAttentionBackend(backend, q, k, v, out, seqLen, 0, cfg);
 */
export async function causalAttentionBackend(
  backend: ComputeBackend,
  q: Float32Array, // (nQ, heads·headDim)
  k: Float32Array, // (past + nQ, kvHeads·headDim)
  v: Float32Array, // (past + nQ, kvHeads·headDim)
  out: Float32Array, // (nQ, heads·headDim)
  nQ: number,
  past: number,
  heads: AttentionHeads,
  probs?: FloatArray, // (heads, nQ, past + nQ)
): Promise<void> {
  const hd = heads.headDim;
  const qDim = heads.numHeads * hd;
  const kvDim = heads.numKvHeads * hd;
  const group = heads.numHeads / heads.numKvHeads;
  const scale = 1 / Math.sqrt(hd);
  const win = heads.slidingWindow;
  const keys = past + nQ;
  const chunk = Math.min(QUERY_CHUNK, nQ);
  const kg = new Float32Array(keys * hd); // (keys, hd) this KV head's keys
  const qc = new Float32Array(group * chunk * hd); // (group·chunk, hd)
  const s = new Float32Array(group * chunk * keys); // (group·chunk, ≤ keys) scores, then P
  const vt = new Float32Array(hd * keys); // (hd, ≤ keys) Vᵀ of the chunk's keys
  const oc = new Float32Array(group * chunk * hd); // (group·chunk, hd)
  for (let g = 0; g < heads.numKvHeads; g++) {
    const ko = g * hd;
    for (let j = 0; j < keys; j++) kg.set(k.subarray(j * kvDim + ko, j * kvDim + ko + hd), j * hd);
    for (let i0 = 0; i0 < nQ; i0 += chunk) {
      const nc = Math.min(chunk, nQ - i0);
      const rows = group * nc;
      const lo = win === undefined ? 0 : Math.max(0, past + i0 - win + 1);
      const hi = past + i0 + nc; // keys [lo, hi)
      const nk = hi - lo;
      // Q rows (gi, i) = query i0+i of head g·group+gi, scaled.
      for (let gi = 0; gi < group; gi++) {
        const h = g * group + gi;
        for (let i = 0; i < nc; i++) {
          const src = (i0 + i) * qDim + h * hd;
          const dst = (gi * nc + i) * hd;
          for (let d = 0; d < hd; d++) qc[dst + d] = q[src + d]! * scale;
        }
      }
      const kw = kg.subarray(lo * hd, hi * hd); // (nk, hd)
      const qx = qc.subarray(0, rows * hd);
      const sc = s.subarray(0, rows * nk); // (rows, nk)
      await backend.matmulTransB(qx, kw, rows, hd, nk, { out: sc });
      backend.invalidate(kw);
      // Row softmax over each query's own range; masked keys get probability 0.
      for (let gi = 0; gi < group; gi++) {
        const h = g * group + gi;
        for (let i = 0; i < nc; i++) {
          const p = past + i0 + i;
          const a = (win === undefined ? 0 : Math.max(0, p - win + 1)) - lo; // first visible key, local
          const b = p - lo; // last visible key, local
          const r = (gi * nc + i) * nk;
          let max = Number.NEGATIVE_INFINITY;
          for (let j = a; j <= b; j++) if (sc[r + j]! > max) max = sc[r + j]!;
          let z = 0;
          for (let j = a; j <= b; j++) z += Math.exp(sc[r + j]! - max);
          for (let j = 0; j < a; j++) sc[r + j] = 0;
          for (let j = a; j <= b; j++) sc[r + j] = Math.exp(sc[r + j]! - max) / z;
          for (let j = b + 1; j < nk; j++) sc[r + j] = 0;
          if (probs) {
            const pr = (h * nQ + i0 + i) * keys + lo;
            for (let j = a; j <= b; j++) probs[pr + j] = sc[r + j]!;
          }
        }
      }
      // Vᵀ [hd, nk] of keys [lo, hi).
      const vw = vt.subarray(0, hd * nk);
      for (let j = 0; j < nk; j++) {
        const src = (lo + j) * kvDim + ko;
        for (let d = 0; d < hd; d++) vw[d * nk + j] = v[src + d]!;
      }
      const o = oc.subarray(0, rows * hd);
      await backend.matmulTransB(sc, vw, rows, nk, hd, { out: o });
      backend.invalidate(vw);
      for (let gi = 0; gi < group; gi++) {
        const h = g * group + gi;
        for (let i = 0; i < nc; i++) {
          out.set(o.subarray((gi * nc + i) * hd, (gi * nc + i + 1) * hd), (i0 + i) * qDim + h * hd);
        }
      }
    }
  }
}

/**
 * {@link causalAttentionBackend} over `batch` independent windows of `seqLen` rows (the layout of
 * {@link causalAttentionWindows}). `probs`, when given (zeroed), is [batch, heads, seqLen, seqLen].
 * Without `probs`, a backend with {@link ComputeBackend.causalAttentionWindows} (the wasm backend)
 * runs all windows and heads in one fused call with the same arithmetic (bitwise equal results).
 *
 * @example
 * await causalAttentionWindowsBackend(backend, q, k, v, out, 2, 64, cfg);
 */
export async function causalAttentionWindowsBackend(
  backend: ComputeBackend,
  q: Float32Array, // (batch·seqLen, heads·headDim)
  k: Float32Array, // (batch·seqLen, kvHeads·headDim)
  v: Float32Array, // (batch·seqLen, kvHeads·headDim)
  out: Float32Array, // (batch·seqLen, heads·headDim)
  batch: number,
  seqLen: number,
  heads: AttentionHeads,
  probs?: FloatArray, // (batch, heads, seqLen, seqLen)
): Promise<void> {
  // The backend's fused kernel when it has one (same arithmetic, without the per-head matmul calls
  // and the JS softmax); it declines layouts it does not handle.
  if (
    probs === undefined &&
    backend.causalAttentionWindows !== undefined &&
    (await backend.causalAttentionWindows(q, k, v, out, batch, seqLen, heads))
  ) {
    return;
  }
  const qDim = heads.numHeads * heads.headDim;
  const kvDim = heads.numKvHeads * heads.headDim;
  const pSize = heads.numHeads * seqLen * seqLen;
  for (let b = 0; b < batch; b++) {
    const r0 = b * seqLen;
    const r1 = r0 + seqLen;
    await causalAttentionBackend(
      backend,
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

/** The `attention` callback of {@link decoderBlock} (./block.ts). */
export type AttentionFn = (
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  out: FloatArray,
) => void | Promise<void>;

/**
 * The attention of `batch` windows of `seqLen` positions for {@link decoderBlock}, as `mode` says:
 * the one switch LlamaModel's forward and distill's training forward share, so both compute
 * attention with the same code. Float64 operands always take the JS loops (backends are float32).
 *
 * @throws RangeError for an unknown mode.
 * @example
 * decoderBlock(cfg, w, x, rows, { ..., attention: windowAttention("backend", backend, 2, 64, cfg) });
 */
export function windowAttention(
  mode: AttentionMode,
  backend: ComputeBackend,
  batch: number,
  seqLen: number,
  heads: AttentionHeads,
  probs?: FloatArray,
): AttentionFn {
  checkAttentionMode("windowAttention", mode);
  return (q, k, v, out) => {
    if (
      mode === "js" ||
      !(q instanceof Float32Array) ||
      !(k instanceof Float32Array) ||
      !(v instanceof Float32Array) ||
      !(out instanceof Float32Array)
    ) {
      causalAttentionWindows(q, k, v, out, batch, seqLen, heads, probs);
      return;
    }
    return causalAttentionWindowsBackend(backend, q, k, v, out, batch, seqLen, heads, probs);
  };
}

/**
 * Check an {@link AttentionMode} option.
 *
 * @throws RangeError naming `where` and the accepted values.
 */
export function checkAttentionMode(where: string, mode: unknown): asserts mode is AttentionMode {
  if (!ATTENTION_MODES.includes(mode as AttentionMode)) {
    throw new RangeError(
      `${where}: attention must be one of ${ATTENTION_MODES.join(", ")}, got ${JSON.stringify(String(mode))}`,
    );
  }
}
