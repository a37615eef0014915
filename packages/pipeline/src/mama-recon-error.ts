// ---- MAMA's per-linear reconstruction error from the gradients its sweep path already has ----

/**
 * {@link errorFromGradients}' sum continued over one row block: `e` plus Σ over the block's values k
 * (from `offset`) of (W − W')[k]·((W − T)·H − (W' − T)·H)[k], in the same order and float64 operations,
 * so the blocks in row order give errorFromGradients' value bit for bit. `pruned` and `hDelta` are the
 * block's own (offset 0); `dense` and `targetGradient` the whole arrays.
 */
export function addErrorFromGradients(
  e: number,
  dense: Float32Array,
  offset: number,
  pruned: Float32Array,
  hDelta: Float32Array,
  targetGradient: Float32Array | undefined,
): number {
  let s = e;
  for (let k = 0; k < pruned.length; k++) {
    const g = (targetGradient === undefined ? 0 : targetGradient[offset + k]!) - hDelta[k]!;
    s += (dense[offset + k]! - pruned[k]!) * g;
  }
  return s;
}

/**
 * trace((W − W')·H·(W − W')ᵀ) = Σ (W − W') ⊙ ((W − T)·H − (W' − T)·H) from the two gradients against
 * the target T (`targetGradient` absent: T = W), in float64: O(rows·cols) instead of a rows·cols² GEMM.
 */
export function errorFromGradients(
  dense: Float32Array,
  pruned: Float32Array,
  hDelta: Float32Array,
  targetGradient: Float32Array | undefined,
): number {
  let e = 0;
  for (let k = 0; k < dense.length; k++) {
    const g = (targetGradient === undefined ? 0 : targetGradient[k]!) - hDelta[k]!;
    e += (dense[k]! - pruned[k]!) * g;
  }
  return e;
}
