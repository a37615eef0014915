import { PruneError } from "@mama-prune/core";
import { isBlockLinear } from "@mama-prune/tensor-io";
import { getParam, type LlamaParams, paramShapes, type Tensor } from "./params.ts";

/** Keep-masks by parameter name: 1 = trainable weight, 0 = pruned weight that must stay exactly 0. */
export type ParamMasks = Map<string, Uint8Array>;

/**
 * Masks from the zeros of a pruned model: for every decoder-block linear (q, k, v, o, gate, up,
 * down — the tensors the pipeline prunes), mask[i] = (w[i] ≠ 0). Tensors without any zero get no
 * mask (nothing to protect). Pass `names` to choose other tensors.
 *
 * @example
 * const masks = masksFromZeros(prunedParams); sparsityOf(prunedParams, masks); // 0.5
 */
export function masksFromZeros(params: LlamaParams, names?: readonly string[]): ParamMasks {
  const shapes = paramShapes(params.config);
  const chosen = names ?? [...shapes].filter(([n, s]) => isBlockLinear(n, s)).map(([n]) => n);
  const masks: ParamMasks = new Map();
  for (const name of chosen) {
    const t = getParam(params, name);
    const m = new Uint8Array(t.length); // (numel,)
    let zeros = 0;
    for (let i = 0; i < t.length; i++) {
      m[i] = t[i] !== 0 ? 1 : 0;
      if (t[i] === 0) zeros++;
    }
    if (zeros > 0) masks.set(name, m);
  }
  return masks;
}

/**
 * Zero the masked entries of `tensors` (params, gradients or optimizer moments) in place.
 *
 * @throws PruneError MASK_INVALID when a mask's length differs from its tensor's.
 * @example
 * applyMasks(grads, masks);
 */
export function applyMasks(tensors: Map<string, Tensor>, masks: ParamMasks): void {
  for (const [name, m] of masks) {
    const t = tensors.get(name);
    if (t === undefined) continue;
    if (t.length !== m.length) {
      throw new PruneError(
        "MASK_INVALID",
        `applyMasks: mask of "${name}" has the wrong length. Expected ${t.length}, got ${m.length}.`,
      );
    }
    for (let i = 0; i < m.length; i++) if (m[i] === 0) t[i] = 0;
  }
}

/**
 * Fraction of exact zeros over the decoder-block linears (or over `names`).
 *
 * @example
 * sparsityOf(params); // 0.5 after 50 % pruning
 */
export function sparsityOf(params: LlamaParams, names?: readonly string[]): number {
  const shapes = paramShapes(params.config);
  const chosen = names ?? [...shapes].filter(([n, s]) => isBlockLinear(n, s)).map(([n]) => n);
  let zeros = 0;
  let total = 0;
  for (const name of chosen) {
    const t = getParam(params, name);
    for (let i = 0; i < t.length; i++) if (t[i] === 0) zeros++;
    total += t.length;
  }
  return total === 0 ? 0 : zeros / total;
}
