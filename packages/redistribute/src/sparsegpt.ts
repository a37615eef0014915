// ---- SparseGPT: OBS pruning with lazy batch updates (Frantar & Alistarh 2023) ----

import {
  type ComputeBackend,
  createYielder,
  type Logger,
  type Matrix,
  nmGroupPruned,
  PruneError,
  validateSparsity,
} from "@mama-prune/core";
import { upperCholeskyOfInverseBlocked } from "./blocked-cholesky.ts";
import { WORK_POOL } from "./buffer-pool.ts";
import {
  checkAttempts,
  checkDamping,
  checkHessian,
  checkMask,
  checkWeight,
  type DampedAttempt,
  DEFAULT_MAX_DAMPING_ATTEMPTS,
  dampedCopies,
  dampedInPlace,
  factorWithDamping,
} from "./common.ts";
import { lowerTriangleHessianInfo } from "./hessian-lower.ts";
import { upperCholeskyOfInverseInPlace } from "./linalg.ts";
import { LazyGemm, lazySuperBlocks, SPARSEGPT_BACKEND_MIN_COLS } from "./obs-sweep.ts";
import {
  checkedScoreRegion,
  lazyUpdate,
  liveDeltaSq,
  obsDiagonals,
  obsEliminate,
  pruneLowest,
  ROW_TILE,
  SUB_BLOCK,
  selectNM,
  selectPerRow,
  sweepRowFixedMask,
} from "./sparsegpt-kernels.ts";
import type { SparseGptFactor, SparseGptOptions, SparseGptResult } from "./sparsegpt-types.ts";

export type {
  NMPattern,
  SparseGptDiagnostics,
  SparseGptFactor,
  SparseGptMaskScore,
  SparseGptOptions,
  SparseGptResult,
  SparseGptScoreRegion,
  SparseGptStage,
} from "./sparsegpt-types.ts";

/**
 * Core's one `validateSparsity`, with the closed range of a primitive: [0, 1] and 0 ≤ N ≤ M (0 and
 * M:M are meaningful edge cases here; the pipeline and every user-facing entry refuse them).
 */
function checkSparsity(where: string, sparsity: unknown): void {
  validateSparsity(sparsity, where, { range: "closed" });
}

/**
 * SparseGPT (Frantar & Alistarh 2023), following the reference `fasterprune` line by line:
 *
 * 1. H = the given Gram matrix XᵀX (any positive multiple gives identical weights and masks, e.g. the
 *    anchor's (2/n)·XᵀX); dead inputs H_jj = 0 → H_jj = 1 and W[:, j] = 0.
 * 2. H += percdamp·mean(diag H)·I; U = upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU). If the factorisation
 *    fails, the damping is multiplied by 10 with a warning (log + diagnostics), up to
 *    `maxDampingAttempts`, then NUMERIC_FAILURE: never a silent fallback.
 * 3. Columns in blocks of `blockSize`. Per block, the mask is chosen once from the current
 *    (already updated) weights with score w²/U_jj²: unstructured = the `count` smallest scores over
 *    the whole rows×block with count = floor(s·rows·i2) − floor(s·rows·i1), so every block holds its
 *    share to within one weight and the matrix exactly floor(s·rows·cols) zeros (ties: lower row-major
 *    index first). N:M = in each row, the N smallest scores of every M consecutive columns, chosen when
 *    the walk reaches the group (ties: lower column first); a row's last cols % M columns (t < M) form
 *    a tail group that loses floor(N·t/M) (core's `nmGroupPruned`). A fixed `mask` replaces both;
 *    `maskScore` replaces the score w²/U_jj² and keeps the rest of the selection (e.g. MAMA's mixed
 *    score chosen inside the sweep).
 * 4. Column by column: err = (w − q)/U_jj (q = 0 if pruned, w if kept); W[:, j:] −= err·U[j, j:]
 *    inside the block; after the block W[:, i2:] −= Err·U[i1:i2, i2:] (lazy batch update).
 *
 * Work runs in float64; the result is rounded to float32 once.
 *
 * @param weight Linear weight [out, in] (row-major).
 * @param hessian Gram matrix XᵀX [in, in] (float64 preferred), symmetric.
 * @throws PruneError `SPARSITY_INVALID` (sparsity out of [0, 1], bad N:M),
 *   `SHAPE_MISMATCH` (weight data, hessian or mask length), `MASK_INVALID` (entries not 0/1),
 *   `CALIBRATION_INVALID` (hessian not finite, not symmetric, negative diagonal), `NUMERIC_FAILURE`
 *   (non-finite weight; Cholesky still failing after the last damping escalation), `ABORTED`.
 *   RangeError/TypeError for bad option values or argument types.
 * @example
 * import { matrix } from "@mama-prune/core";
 * const w = matrix(1, 4, new Float32Array([1, -2, 0.5, 3]));
 * const h = new Float64Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]); // H = I
 * const r = await sparsegpt(w, h, { sparsity: 0.5 });
 * r.weight; // Float32Array [0, -2, 0, 3]
 */
export async function sparsegpt(
  weight: Matrix,
  hessian: Float64Array | Float32Array,
  options: SparseGptOptions,
): Promise<SparseGptResult> {
  const where = options.name ?? "sparsegpt";
  checkWeight(where, weight);
  const { rows, cols } = weight;
  const fixedMask = options.mask;
  const sparsity = options.sparsity;
  if (sparsity !== undefined) checkSparsity(where, sparsity);
  if (fixedMask !== undefined) checkMask(where, fixedMask, rows, cols);
  else if (sparsity === undefined) {
    throw new PruneError(
      "SPARSITY_INVALID",
      `${where}: nothing to prune. Expected options.sparsity or options.mask, got neither.`,
    );
  }
  const perRow = options.unstructuredGroup === "row";
  if (options.unstructuredGroup !== undefined && !perRow && options.unstructuredGroup !== "block") {
    throw new RangeError(
      `${where}: option unstructuredGroup must be "block" or "row", got ${String(options.unstructuredGroup)}`,
    );
  }
  const maskScore = options.maskScore;
  if (maskScore !== undefined && (fixedMask !== undefined || typeof maskScore !== "function")) {
    throw new RangeError(
      `${where}: option maskScore must be a function and excludes option mask. Expected one of them, got ${fixedMask !== undefined ? "both" : typeof maskScore}.`,
    );
  }
  const percdamp = options.percdamp ?? 0.01;
  checkDamping(where, "percdamp", percdamp);
  const maxAttempts = options.maxDampingAttempts ?? DEFAULT_MAX_DAMPING_ATTEMPTS;
  checkAttempts(where, maxAttempts);
  const nm = fixedMask === undefined && typeof sparsity === "object" ? sparsity : undefined;
  const frac = fixedMask === undefined && typeof sparsity === "number" ? sparsity : 0;
  let blockSize = options.blockSize ?? 128;
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new RangeError(`${where}: blockSize must be a positive integer, got ${blockSize}`);
  }
  if (nm !== undefined) blockSize = Math.max(nm.m, blockSize - (blockSize % nm.m));
  const minCols = options.backendMinCols ?? SPARSEGPT_BACKEND_MIN_COLS;
  if (!Number.isInteger(minCols) || minCols < 0) {
    throw new RangeError(`${where}: backendMinCols must be an integer ≥ 0, got ${minCols}`);
  }
  const backend = options.backend !== undefined && cols >= minCols ? options.backend : undefined;
  const tick = createYielder(options.signal); // a turn for Ctrl-C and timers, then the abort check
  await tick(where);

  // ---- Hessian: dead inputs, damping, U = chol(H⁻¹)ᵀ-upper ----
  // Each attempt factors a damped copy of the caller's H (dead fix applied to the copy), or, when the
  // caller gives it up, H itself: the same matrix bit for bit, without an n² float64 copy.
  const t0 = performance.now();
  const given = options.factor;
  const lowerDiag = options.hessianLowerTriangle;
  if (lowerDiag !== undefined && given === undefined)
    throw new RangeError(`${where}: option hessianLowerTriangle needs option factor`);
  const prep =
    lowerDiag !== undefined
      ? lowerTriangleHessianInfo(where, hessian, lowerDiag, cols)
      : checkHessian(where, hessian, cols);
  if (given !== undefined) {
    if (!(given.upper instanceof Float64Array) || given.upper.length !== cols * cols) {
      throw new PruneError(
        "SHAPE_MISMATCH",
        `${where}: option factor.upper must be a Float64Array of cols·cols. Expected ${cols}·${cols} = ${cols * cols}, got ${given.upper instanceof Float64Array ? given.upper.length : typeof given.upper}.`,
      );
    }
    checkDamping(where, "factor.relDamping", given.relDamping);
  }
  const inPlace =
    given === undefined &&
    backend !== undefined &&
    options.overwriteHessian === true &&
    hessian instanceof Float64Array &&
    prep.exactlySymmetric;
  const onStage = options.onStage;
  const damp = inPlace ? dampedInPlace(hessian, cols, prep.dead) : dampedCopies(hessian, cols, prep.dead);
  const source =
    onStage === undefined
      ? damp
      : (damping: number, attempt: number): Float64Array => {
          const m = damp(damping, attempt);
          onStage("damped");
          return m;
        };
  onStage?.("checked");
  const warnings: string[] = [];
  const t1 = performance.now();
  const factor =
    given !== undefined
      ? {
          value: given.upper,
          relDamping: given.relDamping,
          damping: given.relDamping * prep.meanDiag,
          attempts: 1,
        }
      : await factorWithDamping(
          where,
          hessian, // read through `source`
          cols,
          prep.meanDiag,
          percdamp,
          maxAttempts,
          options.log,
          warnings,
          factorInPlace(cols, backend),
          source,
        );
  const t2 = performance.now();
  const u = factor.value; // (cols, cols), upper triangular, H_d⁻¹ = UᵀU
  onStage?.("factored");

  const w = new Float64Array(WORK_POOL.take(8 * rows * cols), 0, rows * cols); // (rows, cols) working copy
  w.set(weight.data);
  if (prep.deadCount > 0) {
    for (let j = 0; j < cols; j++) {
      if (prep.dead[j] === 1) for (let r = 0; r < rows; r++) w[r * cols + j] = 0;
    }
  }
  const mask = fixedMask !== undefined ? new Uint8Array(fixedMask) : new Uint8Array(rows * cols).fill(1); // (rows, cols)
  const { invDiagSq, obsDenominator } = obsDiagonals(u, cols, maskScore !== undefined); // 1/U_jj², U_jj²
  // The caller's score of a region (maskScore), checked: a NaN would break the selection's order.
  const scoreRegion =
    maskScore === undefined ? undefined : checkedScoreRegion(maskScore, w, rows, cols, obsDenominator, where);
  const err = new Float64Array(ROW_TILE * blockSize); // (ROW_TILE, blockSize) errors of a row tile in the block
  const prunedCols = new Int32Array(blockSize + 1); // a row's pruned columns in a (sub-)block
  let obsError = 0;
  let scores = new Float64Array(0);
  let selectScratch = new Float64Array(0); // (rows, bw) pruneLowest's copy
  const nmScores = new Float64Array(nm?.m ?? 0); // (m,)
  const nmTaken = new Uint8Array(nm?.m ?? 0); // (m,)
  const nmPruned = nm === undefined ? 0 : nmGroupPruned(nm, nm.m); // zeros of a full group
  const rowScratch = new Float64Array(perRow ? blockSize : 0); // per-row selection's scratch
  const superBlocks = options.lazySuperBlocks ?? lazySuperBlocks(cols, blockSize);
  if (!Number.isInteger(superBlocks) || superBlocks < 1) {
    throw new RangeError(`${where}: lazySuperBlocks must be an integer ≥ 1, got ${superBlocks}`);
  }
  const gemm =
    backend === undefined ? undefined : new LazyGemm(backend, rows, cols, blockSize, undefined, superBlocks);
  let lazyMs = 0;

  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    await tick(where);
    const i2 = Math.min(i1 + blockSize, cols);
    const bw = i2 - i1;

    // ---- Adaptive unstructured mask: one threshold over rows×block (or per row, `unstructuredGroup`) ----
    if (fixedMask === undefined && nm === undefined) {
      const count = perRow
        ? Math.floor(frac * i2) - Math.floor(frac * i1)
        : Math.floor(frac * rows * i2) - Math.floor(frac * rows * i1);
      if (count > 0) {
        if (scores.length !== rows * bw) {
          scores = new Float64Array(rows * bw); // (rows, bw)
          selectScratch = new Float64Array(rows * bw);
        }
        if (scoreRegion !== undefined) scoreRegion(0, rows, i1, i2, scores);
        else {
          for (let r = 0; r < rows; r++) {
            const ro = r * cols;
            const so = r * bw;
            for (let c = 0; c < bw; c++) {
              const v = w[ro + i1 + c]!;
              scores[so + c] = v * v * invDiagSq[i1 + c]!;
            }
          }
        }
        if (perRow) selectPerRow(scores, mask, rows, cols, i1, bw, count, rowScratch);
      }
      if (count > 0 && !perRow) {
        // One threshold over rows × block: = sorted(scores)[count − 1], ties in row-major order.
        pruneLowest(scores, 0, rows, bw, mask, i1, cols, count, selectScratch);
      }
    }

    // ---- OBS updates, row by row (rows are independent once the block's mask is known) ----
    // On the backend the block is walked in sub-blocks of SUB_BLOCK columns: per-column updates reach
    // the end of the sub-block only, and one small GEMM per sub-block carries them to the rest of the
    // block (the same lazy-batch algebra one level down). The float64 JS path walks the whole block.
    const sub =
      gemm !== undefined && bw > SUB_BLOCK && (nm === undefined || SUB_BLOCK % nm.m === 0) ? SUB_BLOCK : bw;
    for (let c1 = 0; c1 < bw; c1 += sub) {
      const c2 = Math.min(c1 + sub, bw);
      const kEnd = i1 + c2; // per-column updates stop here
      for (let r0 = 0; r0 < rows; r0 += ROW_TILE) {
        const tile = Math.min(ROW_TILE, rows - r0);
        for (let t = 0; t < tile; t++) {
          const ro = (r0 + t) * cols;
          const eo = t * blockSize;
          if (nm === undefined) {
            // The mask is fixed for the block: only the row's pruned columns are walked.
            obsError = sweepRowFixedMask(w, u, mask, err, prunedCols, ro, eo, i1, c1, c2, cols, obsError);
            continue;
          }
          for (let c = c1; c < c2; c++) {
            const j = i1 + c;
            if (nm.n > 0 && j % nm.m === 0) {
              const row = r0 + t;
              selectNM(
                w,
                mask,
                ro + j,
                j,
                Math.min(nm.m, cols - j),
                nm,
                nmPruned,
                invDiagSq,
                nmScores,
                nmTaken,
                scoreRegion === undefined
                  ? undefined
                  : (j0, width, out) => scoreRegion(row, row + 1, j0, j0 + width, out.subarray(0, width)),
              );
            }
            if (mask[ro + j] === 1) err[eo + c] = 0;
            else obsError = obsEliminate(w, u, err, ro, eo, i1, c, cols, kEnd, obsError);
          }
        }
        // Lazy batch: W[r0:r0+tile, i2:] −= Err·U[i1:i2, i2:], four rows per pass over each row of U
        // (each U load feeds four axpys, so U streams from memory a quarter as often).
        if (gemm !== undefined) {
          if (i2 < cols || c2 < bw) gemm.collect(err, blockSize, r0, tile, bw, c1, c2);
        } else if (i2 < cols) {
          const tl = performance.now();
          lazyUpdate(w, u, err, cols, blockSize, r0, tile, i1, bw, i2);
          lazyMs += performance.now() - tl;
        }
      }
      if (gemm !== undefined && c2 < bw) await gemm.applyWithin(w, u, i1, bw, c1, c2);
    }
    if (gemm !== undefined && i2 < cols) await gemm.apply(w, u, i1, i2);
  }

  onStage?.("swept");
  const prunedCount = countZeroBytes(mask);
  const newWeight = new Float32Array(w); // (rows, cols)
  WORK_POOL.give(w.buffer); // w is not read below
  const deltaSq = liveDeltaSq(weight.data, newWeight, rows, cols, prep.dead); // ‖ΔW‖² over the live inputs
  return {
    weight: newWeight,
    mask,
    dampingUsed: factor.damping,
    deadInputs: prep.deadCount,
    diagnostics: {
      percdampUsed: factor.relDamping,
      dampingAttempts: factor.attempts,
      warnings,
      obsError,
      prunedCount,
      blockSize,
      meanDiag: prep.meanDiag,
      onBackend: backend !== undefined,
      hessianOverwritten: inPlace,
      reconstructionError: obsError - factor.damping * deltaSq,
      stageMs: {
        prepare: t1 - t0,
        factor: t2 - t1,
        sweep: performance.now() - t2,
        lazy: gemm !== undefined ? gemm.stats.ms : lazyMs,
      },
    },
  };
}

/** Zeros of a 0/1 mask, four bytes per step (a word's 0/1 bytes summed by one multiply). */
function countZeroBytes(mask: Uint8Array): number {
  const words = mask.byteOffset % 4 === 0 ? mask.length >>> 2 : 0;
  const u32 = new Uint32Array(mask.buffer, words > 0 ? mask.byteOffset : 0, words);
  let ones = 0;
  for (let i = 0; i < words; i++) ones += Math.imul(u32[i]!, 0x01010101) >>> 24;
  for (let i = 4 * words; i < mask.length; i++) ones += mask[i]!;
  return mask.length - ones;
}

/** Options of {@link sparseGptFactor}: the factorisation options of {@link sparsegpt}. */
export interface SparseGptFactorOptions {
  /** Relative damping (default 0.01), as `sparsegpt`'s. */
  readonly percdamp?: number;
  /** Factorisation attempts (default 5), as `sparsegpt`'s. */
  readonly maxDampingAttempts?: number;
  readonly name?: string;
  readonly log?: Logger;
  /** As `sparsegpt`'s: the blocked factorisation here when cols ≥ `backendMinCols`. */
  readonly backend?: ComputeBackend;
  readonly backendMinCols?: number;
  /**
   * A float64 cols² buffer the caller no longer needs (e.g. a matrix it is done with): the damped
   * copy of H, and so the factor, is written into it instead of a new cols² array (the returned
   * `upper` is then this buffer). The factor's values are the same bit for bit.
   */
  readonly into?: Float64Array;
  /**
   * The caller gives H up (as `sparsegpt`'s option): on the backend path, with H float64 and exactly
   * symmetric, the factor is computed in H's own buffer (the returned `upper` is then H). Same values.
   */
  readonly overwriteHessian?: boolean;
  /**
   * With `overwriteHessian` in effect (`upper` is H's own buffer): keep H's strict lower triangle
   * below U (`upperCholeskyOfInverseBlocked`'s `lower: "keep"`) instead of zeroing it, so H stays
   * readable beside its factor (read U's upper triangle only then). Same U bit for bit.
   */
  readonly keepLowerTriangle?: boolean;
}

/** Result of {@link sparseGptFactor}: the factor to pass as `sparsegpt`'s `factor`. */
export interface SparseGptFactorResult extends SparseGptFactor {
  /** One message per damping escalation (also sent to `log.warn`). */
  readonly warnings: readonly string[];
}

/**
 * SparseGPT's factorisation on its own (dead inputs → 1, damping, U with H_d⁻¹ = UᵀU, the damping
 * escalation): exactly the factor {@link sparsegpt} computes with the same options, to share among
 * several sweeps on one Gram matrix (`sparsegpt(…, { factor })` then gives bit-identical results).
 * Memory: one float64 cols² (the factor; none with `into`).
 *
 * @throws as `sparsegpt`'s factorisation: `SHAPE_MISMATCH`, `CALIBRATION_INVALID`, `NUMERIC_FAILURE`.
 * @example
 * const f = await sparseGptFactor(h, cols, { backend });
 * await sparsegpt(w1, h, { sparsity: 0.5, backend, factor: f }); // no second factorisation
 */
export async function sparseGptFactor(
  hessian: Float64Array | Float32Array,
  cols: number,
  options: SparseGptFactorOptions = {},
): Promise<SparseGptFactorResult> {
  const where = options.name ?? "sparsegpt";
  const percdamp = options.percdamp ?? 0.01;
  checkDamping(where, "percdamp", percdamp);
  const maxAttempts = options.maxDampingAttempts ?? DEFAULT_MAX_DAMPING_ATTEMPTS;
  checkAttempts(where, maxAttempts);
  const minCols = options.backendMinCols ?? SPARSEGPT_BACKEND_MIN_COLS;
  const backend = options.backend !== undefined && cols >= minCols ? options.backend : undefined;
  const prep = checkHessian(where, hessian, cols);
  if (options.into !== undefined && (options.into.length !== cols * cols || options.into === hessian)) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: option into must be a separate float64 buffer of cols² values. Expected ${cols * cols} values apart from the Hessian, got ${options.into === hessian ? "the Hessian itself" : `${options.into.length} values`}.`,
    );
  }
  const warnings: string[] = [];
  const f = await factorWithDamping(
    where,
    hessian,
    cols,
    prep.meanDiag,
    percdamp,
    maxAttempts,
    options.log,
    warnings,
    factorInPlace(cols, backend, options.keepLowerTriangle === true ? "keep" : "zero"),
    options.overwriteHessian === true &&
      options.into === undefined &&
      backend !== undefined &&
      hessian instanceof Float64Array &&
      prep.exactlySymmetric
      ? dampedInPlace(hessian, cols, prep.dead)
      : dampedCopies(hessian, cols, prep.dead, options.into),
  );
  return { upper: f.value, relDamping: f.relDamping, warnings };
}

/**
 * SparseGPT's factorisation step for `factorWithDamping`: U with H_d⁻¹ = UᵀU computed in place in the
 * damped copy (ours, so U needs no second n² buffer), blocked on the backend when one is given.
 */
function factorInPlace(
  cols: number,
  backend: ComputeBackend | undefined,
  lower: "zero" | "keep" = "zero",
): (damped: Float64Array) => DampedAttempt<Float64Array> | Promise<DampedAttempt<Float64Array>> {
  return backend === undefined
    ? (damped) => {
        const pivot = upperCholeskyOfInverseInPlace(damped, cols);
        return pivot < 0 ? { ok: true, value: damped } : { ok: false, pivot };
      }
    : async (damped) => {
        const pivot = await upperCholeskyOfInverseBlocked(
          damped,
          cols,
          backend,
          undefined,
          undefined,
          undefined,
          lower,
        );
        return pivot < 0 ? { ok: true, value: damped } : { ok: false, pivot };
      };
}
