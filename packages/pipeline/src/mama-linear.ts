// ---- MAMA's per-linear procedure: mask and weights chosen together (gradual score → mask → refit) ----

import { type Matrix, PruneError, type Sparsity, throwIfAborted } from "@mama-prune/core";
import {
  DIRECT_REFIT_MAX_MULTIPLY_ADDS,
  recycleFloats,
  SPARSEGPT_BACKEND_MIN_COLS,
  type SparseGptFactor,
  sparseGptFactor,
} from "@mama-prune/redistribute";
import { collectGarbageNow } from "./collect-garbage.ts";
import { denseTargetWeight } from "./dense-target.ts";
import type { SpentGramFactor } from "./dense-target-backend.ts";
import { prepareGram } from "./gram-diagonal.ts";
import type { MamaProcedureSettings, RefitSolver } from "./mama-options.ts";
import { addErrorFromGradients, errorFromGradients } from "./mama-recon-error.ts";
import { refineAfterSteps } from "./mama-refine.ts";
import { mixScores } from "./mama-score.ts";
import { mamaSweep } from "./mama-sweep.ts";
import { chooseMamaPath, wideObsState } from "./mama-wide.ts";
import type { LinearProcedure, LinearProcedureInput, LinearProcedureResult } from "./method.ts";
import { refitKept } from "./refit-kept.ts";
import { columnNorms } from "./stats.ts";

export {
  type MamaMethodOptions,
  type MamaProcedureSettings,
  mamaSettings,
  type RefitSolver,
  type RefitSolverOptions,
  type RefitSolverResult,
} from "./mama-options.ts";

/** Fraction of the final pruned count reached after step t of k. */
function scheduleFraction(schedule: "linear" | "cubic", t: number, k: number): number {
  if (t >= k) return 1;
  const f = t / k;
  return schedule === "linear" ? f : 1 - (1 - f) ** 3;
}

/**
 * Mark pruned (mask 0) the lowest scores of each group of `size` consecutive elements (a row or the
 * whole matrix) until `count` of the group are pruned; with `nm`, a row's runs of M columns take at
 * most N each (so the row's count can grow gradually and ends at exactly N per run when count = N·cols/M).
 * Entries already pruned carry score −∞ and so stay pruned. Ties: lower index first.
 */
function pruneLowest(
  score: Float64Array,
  size: number,
  count: number,
  mask: Uint8Array,
  nm: { n: number; m: number } | undefined,
): void {
  const idx = new Array<number>(size);
  const perRun = nm !== undefined ? new Int32Array(Math.ceil(size / nm.m)) : undefined;
  for (let off = 0; off < score.length; off += size) {
    for (let k = 0; k < size; k++) idx[k] = off + k;
    idx.sort((a, b) => score[a]! - score[b]! || a - b);
    if (perRun === undefined) {
      for (let k = 0; k < count && k < size; k++) mask[idx[k]!] = 0;
      continue;
    }
    perRun.fill(0);
    let done = 0;
    for (let k = 0; k < size && done < count; k++) {
      const at = idx[k]!;
      const run = Math.floor((at - off) / nm!.m);
      if (perRun[run]! >= nm!.n) continue;
      perRun[run]!++;
      mask[at] = 0;
      done++;
    }
  }
}

/**
 * MAMA's per-linear procedure (DESIGN.md §2, "mask and weights chosen together"). With k = `steps`:
 *
 * for t = 1..k: score the current weights W_t (terms |W|, |W|·‖X_j‖₂, OBS saliency w²/[H⁻¹]_jj and,
 * when asked for, movement W¹(W¹ − W⁰), each normalised per group by rank or z-score and mixed with
 * their weights), prune the lowest-scoring kept weights up to the schedule's count for step t (pruned
 * weights stay pruned), then refit every row's kept weights to the DENSE row's outputs
 * (min ‖(W_{t+1} − W)X‖², H = XᵀX + λI) with `solver`.
 *
 * The OBS term uses each row's CURRENT kept set K: d_j = [(H_KK + λI)⁻¹]_jj, so w_j²/d_j is the exact
 * loss increase of removing w_j from the refitted row (Hassibi & Stork's saliency, re-evaluated after
 * every refit instead of once on the dense weights as in SparseGPT).
 *
 * Cost per linear (rows r, cols c, kept k): per step, the OBS term's kept-set inverse per distinct row
 * mask (≈ k³/2 each, so r·k³/2), scoring r·c·log c, and one refit (exact direct solve r·min(k, c − k)³/6
 * worst case); in all about steps·r·c³/2 — O(steps·r·c³), against SparseGPT's O(c³ + r·c²).
 *
 * @param settings From {@link mamaSettings}.
 * @param solver The refit (default `refitKept`: the exact direct solve where cheap, batched PCG on the
 *   run's backend on wide layers, chosen per linear by `chooseRefitSolver`).
 */
export function mamaLinearProcedure(
  settings: MamaProcedureSettings,
  solver: RefitSolver = refitKept,
): LinearProcedure {
  // SparseGPT's factor of each input's damped Gram (keyed by the Gram object, which the linears of
  // one input share), held only as long as that Gram is (a WeakMap: no factor outlives its block).
  const factors = new WeakMap<
    Float64Array,
    { damping: number; factor: SparseGptFactor; warnings: readonly string[] }
  >();
  return async (input: LinearProcedureInput): Promise<LinearProcedureResult> => {
    const { name, weight: W, stats: st, signal, log } = input;
    const where = `mama(${name.slice(0, 120)})`;
    const { rows, cols } = W;
    const n = rows * cols;
    const sp: Sparsity = input.sparsity;
    const s = settings;
    const gram = st?.gram;
    const needGram = s.refit || s.obsWeight > 0;
    if (needGram && gram === undefined) {
      throw new PruneError(
        "SCORER_INPUT_MISSING",
        `${where}: option stats.gram is required by MAMA (refit or OBS saliency). Expected the Gram matrix of the linear's input, got undefined.`,
      );
    }
    let norms: Float64Array | undefined;
    if (s.activationWeight > 0) {
      const sq = s.useSampleWeights ? st?.weightedSqNorm : st?.sqNorm;
      if (sq === undefined) {
        throw new PruneError(
          "SCORER_INPUT_MISSING",
          `${where}: option stats.${s.useSampleWeights ? "weightedSqNorm" : "sqNorm"} is required by MAMA's activation term. Expected the input's squared column norms, got undefined.`,
        );
      }
      norms = Float64Array.from(columnNorms(sq));
    }
    const pre = s.movementWeight > 0 ? input.preWeight?.data : undefined;
    if (s.movementWeight > 0 && pre === undefined) {
      throw new PruneError(
        "SCORER_INPUT_MISSING",
        `${where}: option preWeight is required by MAMA's movement term (useMovement). Expected the pre-trained weight W⁰, got undefined.`,
      );
    }
    const damping = input.damping ?? 0.01;
    const warnings: string[] = [];
    // Groups: N:M → runs of M columns; otherwise a row or the whole matrix.
    let size: number;
    let finalCount: number;
    if (typeof sp === "number") {
      size = s.group === "matrix" ? n : cols;
      finalCount = Math.floor(sp * size);
    } else {
      if (cols % sp.m !== 0) {
        throw new PruneError(
          "SPARSITY_INVALID",
          `${where}: N:M sparsity needs cols divisible by M. Expected a multiple of ${sp.m}, got ${cols}.`,
        );
      }
      size = cols;
      finalCount = sp.n * (cols / sp.m);
    }

    // The path (exact kept-set OBS + full refits, or the wide path) by estimated cost, per linear.
    const perRow = (c: number): number => (size === n ? c / rows : c);
    const planned: number[] = [];
    for (let t = 1; t <= s.steps; t++) {
      planned.push(perRow(Math.round(finalCount * scheduleFraction(s.schedule, t, s.steps))));
    }
    // The wide path's sweep solver needs the refit (it is one: SparseGPT's OBS updates toward T).
    const sweep = s.wide.solver === "sweep" && s.refit && gram !== undefined;
    const choice = chooseMamaPath(
      rows,
      cols,
      planned,
      s.obsWeight > 0,
      s.path,
      undefined,
      s.wide.steps,
      sweep ? s.wide : undefined,
    );
    log.debug(`${where}: ${choice.reason}`, { path: choice.path, steps: choice.steps });
    const wide = choice.path === "wide";
    const steps = choice.steps;

    // The sweep on the backend: ONE factorisation of the damped H̃ (SparseGPT's, `sparseGptFactor`)
    // for the dense target's V, every sweep, and every linear of the same input (q/k/v, gate/up share
    // their Gram object): the same kernel on the same matrix, so every result is bit-identical.
    let factor: SparseGptFactor | undefined;
    const cross = st?.crossGram;
    // The last linear of its input (`gramDisposable`) with a dense target: the factor is made after
    // the dense target's last read of C, INTO C's buffer (no third float64 cols² matrix beside H̃ and
    // C: 512 MiB at cols = 8192), and not kept for other linears. Same values bit for bit.
    const factorIntoCross =
      input.gramDisposable === true && s.target === "dense" && cross !== undefined && cross !== gram;
    let deferred: (() => Promise<SparseGptFactor>) | undefined;
    // The last linear of an input whose dense target comes from the product statistic (down_proj):
    // the Gram itself is factored in place (no second float64 cols² array: 924 MiB at 11008), its
    // float64 diagonal taken first and its strict lower triangle kept below the factor
    // (`keepLowerTriangle`): the PCG polish reads H̃ from there, rounded to float32 block by block as
    // its GEMMs take it anyway (no float32 copy of H̃: 462 MiB at 11008). Bit for bit the same.
    let spentGram: { readonly lower: Float64Array; readonly diagonal: Float64Array } | undefined;
    const canSpendGram =
      wide &&
      sweep &&
      gram !== undefined &&
      input.backend !== undefined &&
      cols >= SPARSEGPT_BACKEND_MIN_COLS &&
      input.gramDisposable === true &&
      s.target === "dense" &&
      cross === undefined &&
      st?.targetProduct !== undefined &&
      factors.get(gram) === undefined &&
      polishIsPcg(s, solver, sp, cols, damping);
    if (canSpendGram) {
      const backend = input.backend!;
      const g = gram!;
      deferred = async (): Promise<SparseGptFactor> => {
        throwIfAborted(signal, where);
        const spend = gramDiagonalIfRoundable(g, cols);
        const f = await sparseGptFactor(g, cols, {
          percdamp: damping,
          backend,
          name,
          log,
          ...(spend !== undefined ? { overwriteHessian: true, keepLowerTriangle: true } : {}),
        });
        for (const m of f.warnings) warnings.push(m);
        if (spend !== undefined && f.upper === g) {
          spentGram = { lower: g, diagonal: spend };
          const spent: SpentGramFactor = { upper: f.upper, relDamping: f.relDamping, gramSpent: true };
          factor = spent;
        } else factor = { upper: f.upper, relDamping: f.relDamping }; // H̃ kept (not exactly symmetric)
        return factor;
      };
    } else if (
      wide &&
      sweep &&
      gram !== undefined &&
      input.backend !== undefined &&
      cols >= SPARSEGPT_BACKEND_MIN_COLS &&
      factorIntoCross &&
      factors.get(gram)?.damping !== damping
    ) {
      const backend = input.backend;
      deferred = async (): Promise<SparseGptFactor> => {
        throwIfAborted(signal, where);
        const f = await sparseGptFactor(gram, cols, { percdamp: damping, backend, name, log, into: cross });
        factor = { upper: f.upper, relDamping: f.relDamping };
        for (const m of f.warnings) warnings.push(m);
        return factor;
      };
    } else if (
      wide &&
      sweep &&
      gram !== undefined &&
      input.backend !== undefined &&
      cols >= SPARSEGPT_BACKEND_MIN_COLS
    ) {
      let hit = factors.get(gram);
      if (hit === undefined || hit.damping !== damping) {
        throwIfAborted(signal, where);
        const f = await sparseGptFactor(gram, cols, { percdamp: damping, backend: input.backend, name, log });
        hit = { damping, factor: { upper: f.upper, relDamping: f.relDamping }, warnings: f.warnings };
        factors.set(gram, hit);
      }
      factor = hit.factor;
      for (const m of hit.warnings) warnings.push(m); // every linear using it reports its escalations
    }
    // The rows every refit, saliency and swap is taken toward: W, or the dense target's V.
    let T: Matrix = W;
    // The product statistic M = W·(C − H̃)ᵀ in place of C (the two-stream pass's choice per input).
    const product = cross === undefined ? st?.targetProduct : undefined;
    if (s.target === "dense" && gram !== undefined && cross === undefined && product === undefined) {
      // No dense stream (a linear pruned on its own, e.g. pruneLinear or a conformance kit): its input
      // is taken as the dense model's (X = X̃, so C = H̃), where the dense target IS the layer target.
      // prune/pruneToCheckpoint always carry the dense stream for this target (methodNeeds).
      const m = `${where}: option target "dense" without stats.crossGram (no dense-model stream): the input is taken as the dense model's (X = X̃), where the dense target equals the layer target; refitting to the layer's own outputs.`;
      warnings.push(m);
      log.debug(m);
    }
    let denseTarget: "cross-gram" | "product" | undefined;
    let targetGradient: Float32Array | undefined; // (W − T)·H̃, from the dense target's backend path
    let ownTarget = false; // T.data is the backend path's V, owned here
    if (s.target === "dense" && gram !== undefined && (cross !== undefined || product !== undefined)) {
      denseTarget = cross !== undefined ? "cross-gram" : "product";
      log.debug(
        `${where}: dense target from the ${denseTarget === "product" ? "product statistic M = W·(C − H̃)ᵀ" : "cross-Gram C = X̃ᵀX"}`,
        { denseTarget },
      );
      const d = await denseTargetWeight(
        W,
        gram,
        cross ?? { targetProduct: product! },
        damping,
        name,
        s.targetBlend,
        input.backend,
        deferred ?? factor,
      );
      T = d.target;
      targetGradient = d.targetGradient;
      // The last linear of its input: the product statistic was read for the last time (it entered
      // W·Dᵀ above); its pages go to the PCG polish's state (the caller drops it after this call).
      if (product !== undefined && input.gramDisposable === true) recycleFloats(product);
      ownTarget = d.targetGradient !== undefined; // the backend path: V is a new array of its own
      for (const m of d.warnings) {
        warnings.push(m);
        log.warn(m);
      }
    }

    const mask = new Uint8Array(n).fill(1); // (rows, cols)
    // The current weights (rows, cols): the sweep's result, or T's copy that the steps score and prune
    // (no copy on the sweep path: 64 MiB at 2048 × 8192 that nothing would read).
    let cur: Float32Array;
    let dampingUsed: number | undefined;
    let refitSolver: "direct" | "pcg" | "sweep" | undefined;
    let reconstructionError: number | undefined;
    if (wide && sweep && gram !== undefined) {
      throwIfAborted(signal, where);
      await collectGarbageNow(input.collectGarbage); // the dense target's dead products, before the sweep's
      // trace((W − W')·H̃·(W − W')ᵀ) summed block by block of the polish (errorFromGradients' sum in
      // its order, bit for bit): no whole rows × cols (W' − T)·H̃ array.
      const tg = targetGradient;
      let sunkError = 0;
      const hDeltaSink =
        T === W || tg !== undefined
          ? (offset: number, w: Float32Array, hd: Float32Array): void => {
              sunkError = addErrorFromGradients(sunkError, W.data, offset, w, hd, tg);
            }
          : undefined;
      const r = await mamaSweep(
        {
          settings: s,
          target: T,
          ...(factor !== undefined ? { factor } : {}),
          // The last linear of its input: nobody reads the factor after this sweep.
          ...(factor !== undefined && input.gramDisposable === true ? { factorDisposable: true } : {}),
          dense: W,
          ...(spentGram !== undefined
            ? { gram: spentGram.lower, gramDiagonal: spentGram.diagonal, gramLowerTriangle: true }
            : { gram }),
          sparsity: sp,
          norms,
          pre,
          damping,
          name,
          log,
          ...(signal !== undefined ? { signal } : {}),
          ...(input.backend !== undefined ? { backend: input.backend } : {}),
          ...(input.collectGarbage !== undefined ? { collectGarbage: input.collectGarbage } : {}),
          ...(hDeltaSink !== undefined ? { hDeltaSink } : {}),
        },
        solver,
      );
      mask.set(r.mask);
      cur = r.weight;
      // The factor's buffer (U above, H̃ below): the polish was its last reader.
      if (spentGram !== undefined) recycleFloats(spentGram.lower);
      dampingUsed = r.dampingUsed;
      refitSolver = "sweep";
      for (const m of r.warnings) warnings.push(m);
      // trace((W − W')·H̃·(W − W')ᵀ) from the polish's tracked (W' − T)·H̃ and the target's (W − T)·H̃
      // (0 for the layer target): no rows·cols² measuring GEMM (SparseGPT reports its own likewise).
      if (r.hDeltaSunk === true) reconstructionError = sunkError;
      else if (r.hDelta !== undefined && (T === W || targetGradient !== undefined)) {
        reconstructionError = errorFromGradients(W.data, cur, r.hDelta, T === W ? undefined : targetGradient);
      }
      // Both gradients were read for the last time just above: their pages go to the next linear's
      // rows × cols arrays (the values of fresh ones, without V8's late collection in between).
      if (r.hDelta !== undefined) recycleFloats(r.hDelta);
      if (targetGradient !== undefined) recycleFloats(targetGradient);
      targetGradient = undefined;
    } else {
      cur = new Float32Array(T.data);
      const obs =
        s.obsWeight > 0 && gram !== undefined
          ? wide && s.wide.obs !== "kept"
            ? await wideObsState(s.wide.obs, s.wide.block, gram, cols, damping, input.backend, where)
            : { g: prepareGram(gram, cols), rel: damping, where }
          : undefined;
      let prevCount = 0;
      for (let t = 1; t <= steps; t++) {
        throwIfAborted(signal, where);
        const count = Math.round(finalCount * scheduleFraction(s.schedule, t, steps));
        if (count <= prevCount && t < steps) continue;
        prevCount = count;
        const score = mixScores(s, cur, W.data, rows, cols, mask, norms, obs, pre);
        pruneLowest(score, size, count, mask, typeof sp === "number" ? undefined : sp);
        if (s.refit && gram !== undefined) {
          const r = await solver(T, gram, mask, {
            damping,
            name,
            log,
            ...(signal !== undefined ? { signal } : {}),
            ...(input.backend !== undefined ? { backend: input.backend } : {}),
            // Wide path: warm start from the previous step, a small budget until the final step.
            ...(wide && t > 1 ? { initialWeight: cur } : {}),
            ...(wide && t < steps && s.wide.intermediateIterations > 0
              ? { maxIterations: s.wide.intermediateIterations }
              : {}),
          });
          cur = r.weight;
          dampingUsed = r.dampingUsed;
          if (r.solver !== undefined) refitSolver = r.solver;
          for (const m of r.warnings) warnings.push(m);
        } else {
          cur = new Float32Array(T.data);
          for (let k = 0; k < n; k++) if (mask[k] === 0) cur[k] = 0;
        }
      }
    }
    const refined = await refineAfterSteps(
      s,
      T === W ? input : { ...input, weight: T },
      mask,
      solver,
      damping,
    );
    if (refined !== undefined) {
      reconstructionError = undefined; // other weights now: the caller measures them
      mask.set(refined.mask);
      cur = refined.weight;
      for (const m of refined.warnings) warnings.push(m);
    }
    // The dense target's V (the backend path's own array, never returned: the result is the sweep's,
    // the refit's or a copy) is read no more.
    if (ownTarget && T.data !== cur) recycleFloats(T.data);
    // The last linear of its input: its shared factor is of no further use (do not wait for the
    // Gram's collection to drop it).
    if (input.gramDisposable === true && gram !== undefined) factors.delete(gram);
    return {
      weight: cur,
      mask,
      redistribution: s.refit ? "refit" : "none",
      mamaPath: choice.path,
      ...(denseTarget !== undefined ? { denseTarget } : {}),
      ...(refitSolver !== undefined ? { refitSolver } : {}),
      ...(dampingUsed !== undefined ? { dampingUsed } : {}),
      ...(reconstructionError !== undefined ? { reconstructionError } : {}),
      warnings,
    };
  };
}

/**
 * Whether the sweep's polish is certain to run `refitKept`'s PCG (the float32 Gram is for PCG only):
 * the default solver with a budget, no refinement after it, and every row both pruned and kept (per
 * row counts: the unstructured `"row"` group or N:M), so its direct-solve cost is at least
 * cols³/6 > `DIRECT_REFIT_MAX_MULTIPLY_ADDS`; damping ≥ 1e-8 (the dense target's escalation path is
 * then SparseGPT's, ×10 per attempt).
 */
function polishIsPcg(
  s: MamaProcedureSettings,
  solver: RefitSolver,
  sp: Sparsity,
  cols: number,
  damping: number,
): boolean {
  if (solver !== refitKept || s.wide.polishIterations < 1 || !(damping >= 1e-8)) return false;
  if (s.refine === "swap" && cols <= s.refineMaxCols) return false;
  if (cols ** 3 / 6 <= DIRECT_REFIT_MAX_MULTIPLY_ADDS) return false;
  if (typeof sp !== "number") return sp.n > 0 && sp.n < sp.m;
  const first = Math.floor((sp / s.wide.sweeps) * cols); // the first gradual sweep prunes least
  return s.group === "row" && first > 0 && Math.floor(sp * cols) < cols;
}

/**
 * H̃'s float64 diagonal, when H̃'s float32 rounding (what the polish's GEMMs read) keeps every entry
 * finite and every diagonal entry zero exactly where H̃'s is (dead inputs stay dead, live ones live);
 * else undefined.
 */
function gramDiagonalIfRoundable(gram: Float64Array, n: number): Float64Array | undefined {
  for (let k = 0; k < gram.length; k++) if (!Number.isFinite(Math.fround(gram[k]!))) return undefined;
  const diagonal = new Float64Array(n); // (n,)
  for (let j = 0; j < n; j++) {
    diagonal[j] = gram[j * n + j]!;
    if ((diagonal[j] === 0) !== (Math.fround(diagonal[j]!) === 0)) return undefined;
  }
  return diagonal;
}
