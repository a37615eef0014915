import { PruneError } from "@mama-prune/core";
import type { Grads } from "./engine.ts";
import { applyMasks, type ParamMasks } from "./masks.ts";
import { getParam, type LlamaParams, type Tensor } from "./params.ts";

/** Options of {@link createAdamW}. */
export interface AdamWOptions {
  /** β₁ (default 0.9). */
  readonly beta1?: number;
  /** β₂ (default 0.95, nanoGPT's). */
  readonly beta2?: number;
  /** ε (default 1e-8). */
  readonly eps?: number;
  /**
   * Decoupled weight decay λ (default 0): w ← w − lr·λ·w, applied to 2-D tensors only (matrices
   * and embeddings; never norms or biases, as nanoGPT does).
   */
  readonly weightDecay?: number;
  /** Keep-masks: masked entries get zero gradient, zero moments and stay exactly zero. */
  readonly masks?: ParamMasks;
}

/** AdamW state over one LlamaParams (float64 moments). */
export interface AdamW {
  /** Number of updates done. */
  readonly stepCount: number;
  /** First and second moments by parameter name. */
  readonly moments: ReadonlyMap<string, { readonly m: Float64Array; readonly v: Float64Array }>;
  /**
   * One update with learning rate `lr` from `grads` (masked in place first when masks are set).
   *
   * @throws PruneError NUMERIC_FAILURE when a gradient is NaN/Inf (the params are left unchanged).
   */
  step(grads: Grads, lr: number): void;
}

/**
 * AdamW (Loshchilov & Hutter): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², w ← w − lr·(m̂/(√v̂+ε) + λw)
 * with bias-corrected m̂, v̂. With masks, a pruned weight sees g = 0, m = v = 0 and is re-zeroed
 * after the update, so it stays exactly 0 (the update of a zero weight with zero moments is already
 * 0; the re-zeroing makes it hold whatever the arithmetic).
 *
 * @throws RangeError for hyper-parameters out of range.
 * @example
 * const opt = createAdamW(params, { weightDecay: 0.1, masks }); opt.step(grads, 1e-3);
 */
export function createAdamW(params: LlamaParams, options: AdamWOptions = {}): AdamW {
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.95;
  const eps = options.eps ?? 1e-8;
  const wd = options.weightDecay ?? 0;
  for (const [label, v] of [
    ["beta1", beta1],
    ["beta2", beta2],
  ] as const) {
    if (!(v >= 0 && v < 1)) throw new RangeError(`createAdamW: ${label} must be in [0, 1), got ${v}`);
  }
  if (!(eps > 0)) throw new RangeError(`createAdamW: eps must be > 0, got ${eps}`);
  if (!(wd >= 0)) throw new RangeError(`createAdamW: weightDecay must be ≥ 0, got ${wd}`);
  const masks = options.masks;
  const moments = new Map<string, { m: Float64Array; v: Float64Array }>();
  for (const [name, t] of params.tensors)
    moments.set(name, { m: new Float64Array(t.length), v: new Float64Array(t.length) });
  const decayed = new Set<string>(
    [...params.tensors.keys()].filter(
      (n) => n.endsWith("_proj.weight") || n === "lm_head.weight" || n === "model.embed_tokens.weight",
    ),
  );
  let t = 0;
  return {
    get stepCount(): number {
      return t;
    },
    moments,
    step(grads: Grads, lr: number): void {
      if (!(lr >= 0 && Number.isFinite(lr)))
        throw new RangeError(`AdamW.step: lr must be a finite number ≥ 0, got ${lr}`);
      for (const [name, g] of grads) {
        for (let i = 0; i < g.length; i++) {
          if (g[i]! - g[i]! !== 0) {
            throw new PruneError(
              "NUMERIC_FAILURE",
              `AdamW.step: gradient of "${name}" is not finite at index ${i}. Expected finite gradients, got ${g[i]}.`,
            );
          }
        }
      }
      if (masks) applyMasks(grads, masks);
      t++;
      const bc1 = 1 - beta1 ** t;
      const bc2 = 1 - beta2 ** t;
      for (const [name, g] of grads) {
        const w: Tensor = getParam(params, name);
        const mv = moments.get(name);
        if (mv === undefined) throw new RangeError(`AdamW.step: unknown parameter "${name}"`);
        const { m, v } = mv;
        const decay = decayed.has(name) ? wd : 0;
        for (let i = 0; i < g.length; i++) {
          const gi = g[i]!;
          const mi = beta1 * m[i]! + (1 - beta1) * gi;
          const vi = beta2 * v[i]! + (1 - beta2) * gi * gi;
          m[i] = mi;
          v[i] = vi;
          const wi = w[i]!;
          w[i] = wi - lr * (mi / bc1 / (Math.sqrt(vi / bc2) + eps) + decay * wi);
        }
        const mask = masks?.get(name);
        if (mask) {
          for (let i = 0; i < mask.length; i++) {
            if (mask[i] === 0) {
              w[i] = 0;
              m[i] = 0;
              v[i] = 0;
            }
          }
        }
      }
    },
  };
}

/**
 * Global-norm gradient clipping: when ‖g‖₂ over all tensors exceeds `maxNorm`, scale every
 * gradient by maxNorm/‖g‖. Returns the norm before clipping.
 *
 * @throws RangeError when maxNorm ≤ 0.
 * @example
 * const norm = clipGradNorm(grads, 1);
 */
export function clipGradNorm(grads: Grads, maxNorm: number): number {
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  let ss = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) ss += g[i]! * g[i]!;
  const norm = Math.sqrt(ss);
  if (norm > maxNorm) {
    const s = maxNorm / norm;
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] = g[i]! * s;
  }
  return norm;
}

/** Options of {@link learningRateAt}. */
export interface LrSchedule {
  /** Peak learning rate. */
  readonly lr: number;
  /** Linear warm-up steps from lr/warmup to lr (default 0). */
  readonly warmupSteps?: number;
  /** Total steps; cosine decay runs from the end of warm-up to here. */
  readonly totalSteps: number;
  /** Floor of the cosine (default lr/10). */
  readonly minLr?: number;
}

/**
 * Linear warm-up then cosine decay (nanoGPT's get_lr): step < warmup → lr·(step+1)/warmup; then
 * minLr + ½(1 + cos(π·progress))·(lr − minLr) with progress from 0 to 1 at the last step.
 *
 * @throws RangeError for a negative step or inconsistent schedule.
 * @example
 * learningRateAt(0, { lr: 1e-3, warmupSteps: 10, totalSteps: 100 }); // 1e-4
 */
export function learningRateAt(step: number, s: LrSchedule): number {
  const warm = s.warmupSteps ?? 0;
  const minLr = s.minLr ?? s.lr / 10;
  if (!Number.isInteger(step) || step < 0)
    throw new RangeError(`learningRateAt: step must be an integer ≥ 0, got ${step}`);
  if (!(s.lr >= 0) || !(minLr >= 0) || !(warm >= 0) || !(s.totalSteps > 0)) {
    throw new RangeError(`learningRateAt: invalid schedule ${JSON.stringify(s)}`);
  }
  if (step < warm) return (s.lr * (step + 1)) / warm;
  const span = Math.max(1, s.totalSteps - 1 - warm);
  const progress = Math.min(1, (step - warm) / span);
  return minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (s.lr - minLr);
}
