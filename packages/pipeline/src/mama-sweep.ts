// ---- MAMA's wide path, "sweep" solver: SparseGPT's OBS sweep on the refit's target, MAMA's mask inside ----

import { type ComputeBackend, type Logger, type Matrix, matrix, type Sparsity } from "@mama-prune/core";
import {
  recycleFloats,
  type SparseGptFactor,
  type SparseGptMaskScore,
  sparsegpt,
} from "@mama-prune/redistribute";
import { collectGarbageNow } from "./collect-garbage.ts";
import type {
  MamaProcedureSettings,
  RefitSolver,
  RefitSolverOptions,
  RefitSolverResult,
} from "./mama-options.ts";
import { mixScores } from "./mama-score.ts";
import { refitKept } from "./refit-kept.ts";

/**
 * Whether the sweep's mask score is SparseGPT's own: only the OBS term is on (the shipped weights), so
 * the mix of one rank- or z-normalised term orders like w²/U_jj² and SparseGPT's native selection runs
 * unchanged (no callback, bit for bit).
 */
export function sweepScoreIsObsOnly(s: MamaProcedureSettings, hasNorms: boolean, hasPre: boolean): boolean {
  const activation = s.activationWeight > 0 && hasNorms;
  const movement = s.movementWeight > 0 && hasPre;
  return s.obsWeight > 0 && s.magnitudeWeight === 0 && !activation && !movement;
}

/**
 * MAMA's score as a SparseGPT `maskScore`: the region of the sweep's current weights scored with
 * MAMA's terms (|w|, |w|·‖x_j‖, the OBS saliency w²/U_jj² with SparseGPT's running denominators, and
 * movement W¹(W¹ − W⁰) of the dense weights), each normalised over the region (all rows × the column
 * block, or one row × one N:M group: SparseGPT's selection groups) and mixed with their weights by
 * `mixScores` — the same code as the exact and pcg wide paths, on a region instead of a row.
 *
 * @param dense The dense weight W (movement's W¹).
 * @param norms ‖x_j‖ per input column, when the activation term is on.
 * @param pre W⁰, when the movement term is on.
 * @param prior A previous sweep's mask (gradual sweeps): its pruned entries score −∞, so they are
 *   pruned first (they stay pruned).
 * @param obsOnly Score w²/U_jj² alone (SparseGPT's), without the mix (used with `prior`).
 */
export function mamaSweepScore(
  s: MamaProcedureSettings,
  dense: Matrix,
  norms: Float64Array | undefined,
  pre: Float32Array | undefined,
  prior?: Uint8Array,
  obsOnly = false,
): SparseGptMaskScore {
  const region: MamaProcedureSettings = { ...s, group: "matrix" };
  return (g, out) => {
    const rr = g.row1 - g.row0;
    const bw = g.col1 - g.col0;
    const n = rr * bw;
    const forcePrior = (): void => {
      if (prior === undefined) return;
      for (let r = 0; r < rr; r++) {
        const mo = (g.row0 + r) * g.cols + g.col0;
        for (let c = 0; c < bw; c++) if (prior[mo + c] === 0) out[r * bw + c] = Number.NEGATIVE_INFINITY;
      }
    };
    if (obsOnly) {
      for (let r = 0; r < rr; r++) {
        const wo = (g.row0 + r) * g.cols + g.col0;
        for (let c = 0; c < bw; c++) {
          const v = g.weight[wo + c]!;
          out[r * bw + c] = (v * v) / g.obsDenominator[g.col0 + c]!;
        }
      }
      forcePrior();
      return;
    }
    const cur = new Float64Array(n); // (rr, bw) current weights of the region
    const w1 = new Float32Array(n); // (rr, bw) dense weights
    const w0 = pre === undefined ? undefined : new Float32Array(n); // (rr, bw)
    for (let r = 0; r < rr; r++) {
      const src = (g.row0 + r) * g.cols + g.col0;
      cur.set(g.weight.subarray(src, src + bw), r * bw);
      w1.set(dense.data.subarray(src, src + bw), r * bw);
      w0?.set(pre!.subarray(src, src + bw), r * bw);
    }
    const acc = mixScores(
      region,
      cur,
      w1,
      rr,
      bw,
      new Uint8Array(n).fill(1),
      norms?.subarray(g.col0, g.col1),
      s.obsWeight > 0 ? { fixed: g.obsDenominator.subarray(g.col0, g.col1) } : undefined,
      w0,
    );
    out.set(acc);
    forcePrior();
  };
}

/** What {@link mamaSweep} needs. */
export interface MamaSweepInput {
  readonly settings: MamaProcedureSettings;
  /** The refit's target rows: V (dense target) or W (layer target). */
  readonly target: Matrix;
  /**
   * SparseGPT's factor of the damped Gram (`sparseGptFactor` with percdamp = damping), shared by every
   * sweep (and the caller's other users); absent: each sweep factors on its own (same results).
   */
  readonly factor?: SparseGptFactor;
  /**
   * The caller reads `factor` no more after this call (the last linear of its input): its float64
   * cols² buffer goes to the pool once the last sweep is done, for the final polish's state.
   */
  readonly factorDisposable?: boolean;
  /** The dense weight W (the movement term). */
  readonly dense: Matrix;
  /** H̃, or with `gramDiagonal` its float32 rounding (the float64 Gram then holds the factor). */
  readonly gram: Float64Array | Float32Array;
  /**
   * The float64 diagonal of the Gram `gram` rounds: the polish is then `refitKept` with it
   * (`hessianDiagonal`: the float64 Gram's weights bit for bit); the sweeps need `factor`.
   */
  readonly gramDiagonal?: Float64Array;
  /**
   * With `gramDiagonal`: `gram` is a float64 buffer holding H̃ in its strict lower triangle only (the
   * factor's buffer, `factor.upper` above it: SparseGPT's `keepLowerTriangle`); the polish reads H̃
   * from there (`refitKept`'s `hessianLowerTriangle`), the same weights as H̃'s float32 rounding.
   */
  readonly gramLowerTriangle?: boolean;
  readonly sparsity: Sparsity;
  readonly norms: Float64Array | undefined;
  readonly pre: Float32Array | undefined;
  /** Relative damping λ / mean(diag H̃), the refit's. */
  readonly damping: number;
  readonly name: string;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  readonly backend?: ComputeBackend;
  /** The run's garbage collection hook (`LinearProcedureInput.collectGarbage`), called before each polish. */
  readonly collectGarbage?: () => void;
  /**
   * The final polish hands its (weight − target)·H to this sink row block by row block
   * (`RefitSolverOptions.hDeltaSink`) instead of returning it whole; the result says `hDeltaSunk`.
   */
  readonly hDeltaSink?: (offset: number, weight: Float32Array, hDelta: Float32Array) => void;
}

/** What {@link mamaSweep} returns. */
export interface MamaSweepResult {
  readonly weight: Float32Array;
  readonly mask: Uint8Array;
  readonly dampingUsed: number;
  readonly warnings: readonly string[];
  /** Whether SparseGPT's own score ran (OBS term only), i.e. the result is SparseGPT on the target. */
  readonly obsOnly: boolean;
  /**
   * (weight − target)·H (rows × cols), tracked by the final polish's PCG when it ran (no measuring
   * GEMM): with the target's own (W − T)·H it gives the per-linear reconstruction error for free.
   */
  readonly hDelta?: Float32Array;
  /** The final polish's (weight − target)·H went to the input's `hDeltaSink`, every row. */
  readonly hDeltaSunk?: boolean;
}

/**
 * The wide path's `"sweep"` solver: SparseGPT's blocked OBS sweep (`sparsegpt`, on the run's backend
 * from 512 columns) on the target rows with the damped Gram H̃ + λI — since ‖W'X̃ − WX_α‖² =
 * ‖(W' − V)X̃‖²_{H̃+λI} + const, that minimises MAMA's refit objective — with the adaptive mask chosen
 * inside the sweep on MAMA's score ({@link mamaSweepScore}; SparseGPT's own w²/U_jj² when only the
 * OBS term is on) — unstructured, in MAMA's comparison group: `group: "row"` (default) each row prunes
 * its share of every column block, `"matrix"` SparseGPT's one count over rows × block (then, with the
 * OBS term alone, this IS SparseGPT on the target) — then `polishIterations` warm-started refit
 * iterations of `solver` on the final mask. With `wide.sweeps` = k > 1 (unstructured levels), sweep t
 * prunes to s·t/k starting from sweep t − 1's weights polished toward the target
 * (`intermediateIterations`, at least 1), the earlier pruned entries forced: from the least-squares
 * optimum W_t of a mask, ‖W' − V‖²_H = ‖W' − W_t‖²_H + const for every W' pruned on a superset, so each
 * sweep minimises the same objective while scoring weights that have absorbed every earlier prune.
 * Cost: per sweep SparseGPT's (2·cols³/3 + rows·cols²) plus its polish's (2 + k) GEMMs.
 */
export async function mamaSweep(input: MamaSweepInput, solver: RefitSolver): Promise<MamaSweepResult> {
  const { settings: s, target, gram, sparsity, damping, name, log, signal, backend } = input;
  const obsOnly = sweepScoreIsObsOnly(s, input.norms !== undefined, input.pre !== undefined);
  // Gradual sweeps (unstructured only): sweep t prunes to s·t/k from the previous sweep's polished
  // weights, its pruned entries forced; N:M levels run one sweep.
  const k = typeof sparsity === "number" ? s.wide.sweeps : 1;
  const diag = input.gramDiagonal;
  const polish = (t: Matrix, m: Uint8Array, o: RefitSolverOptions): Promise<RefitSolverResult> =>
    diag !== undefined
      ? refitKept(t, gram, m, {
          ...o,
          hessianDiagonal: diag,
          ...(input.gramLowerTriangle === true ? { hessianLowerTriangle: true } : {}),
        })
      : gram instanceof Float64Array
        ? solver(t, gram, m, o)
        : Promise.reject(new TypeError(`mamaSweep(${name}): a float32 gram needs option gramDiagonal`));
  const warnings: string[] = [];
  let start: Matrix = target;
  let prior: Uint8Array | undefined;
  let weight: Float32Array = target.data;
  let mask: Uint8Array = new Uint8Array(0);
  let dampingUsed = 0;
  let hDelta: Float32Array | undefined;
  let hDeltaSunk = false;
  for (let t = 1; t <= k; t++) {
    const last = t === k;
    const r = await sparsegpt(start, gram, {
      sparsity: last ? sparsity : (sparsity as number) * (t / k),
      percdamp: damping,
      // MAMA's comparison group: per row (each row prunes its share of every block) or SparseGPT's own.
      unstructuredGroup: s.group === "row" ? "row" : "block",
      name,
      log,
      ...(signal !== undefined ? { signal } : {}),
      ...(backend !== undefined ? { backend } : {}),
      ...(input.factor !== undefined ? { factor: input.factor } : {}),
      ...(input.gramLowerTriangle === true && diag !== undefined ? { hessianLowerTriangle: diag } : {}),
      ...(obsOnly && prior === undefined
        ? {}
        : { maskScore: mamaSweepScore(s, input.dense, input.norms, input.pre, prior, obsOnly) }),
    });
    for (const m of r.diagnostics.warnings) warnings.push(m);
    weight = r.weight;
    mask = r.mask;
    dampingUsed = r.dampingUsed;
    // The shared factor is read by the sweeps only: after the last one its pages can hold the polish's
    // (not when its buffer also holds the polish's H̃, `gramLowerTriangle`).
    if (last && input.factorDisposable === true && input.factor !== undefined && input.factor.upper !== gram)
      recycleFloats(input.factor.upper);
    // Polish toward the target on this mask: the final budget, or the intermediate one (≥ 1) so the
    // next sweep starts from (nearly) the mask's least-squares optimum, where sweeping from it
    // minimises the same objective.
    const budget = last ? s.wide.polishIterations : Math.max(1, s.wide.intermediateIterations);
    if (budget > 0) {
      await collectGarbageNow(input.collectGarbage); // the sweep's dead working arrays, before the polish's
      const p = await polish(target, mask, {
        damping,
        name,
        log,
        ...(signal !== undefined ? { signal } : {}),
        ...(backend !== undefined ? { backend } : {}),
        initialWeight: weight,
        // The sweep's result is ours and read no more after the polish: the solver may write into it.
        overwriteInitialWeight: true,
        maxIterations: budget,
        ...(last ? { hDelta: true } : {}),
        ...(last && input.hDeltaSink !== undefined ? { hDeltaSink: input.hDeltaSink } : {}),
      });
      for (const m of p.warnings) warnings.push(m);
      // The sweep's weights were the polish's warm start only (copied into its Δ), unless the polish
      // wrote its result there: their pages go to the next rows × cols array.
      if (p.weight.buffer !== r.weight.buffer) recycleFloats(r.weight);
      weight = p.weight;
      hDelta = last ? p.hDelta : undefined;
      hDeltaSunk = last && p.hDeltaSunk === true;
      dampingUsed = p.dampingUsed;
    }
    start = matrix(target.rows, target.cols, weight);
    prior = mask;
  }
  return {
    weight,
    mask,
    dampingUsed,
    warnings,
    obsOnly,
    ...(hDelta !== undefined ? { hDelta } : {}),
    ...(hDeltaSunk ? { hDeltaSunk } : {}),
  };
}
