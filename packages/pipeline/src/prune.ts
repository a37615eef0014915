// ---- The sequential pruning pipeline (DESIGN.md §1/§3): a loop over blocks, and over linears ----

import {
  countZeros,
  createYielder,
  matrix,
  type NmPattern,
  nmGroupPruned,
  nmRowPruned,
  PruneError,
  SILENT_LOGGER,
} from "@mama-prune/core";
import { LINEAR_NAMES, type LinearName, type LlamaModel, loadLlama } from "@mama-prune/model";
import { allocateSparsity } from "@mama-prune/scoring";
import type { Checkpoint } from "@mama-prune/tensor-io";
import {
  type BlockAccess,
  collectBlockStats,
  INPUT_OF,
  type InputKey,
  linearTensorName,
  runBlockBatched,
} from "./block-runner.ts";
import { PERMUTABLE, permuteBlockChannels } from "./channel-permutation-block.ts";
import { collectGarbageNow } from "./collect-garbage.ts";
import { collectBlockStatsTwoStreams } from "./dense-stream.ts";
import { methodNeeds, resolveMethod } from "./methods.ts";
import { owlOutlierRatios } from "./owl.ts";
import { pruneLinear } from "./prune-linear.ts";
import { checkCalibration, checkPruneOptions, type PruneOptions } from "./prune-options.ts";
import type { LinearReport, PruneReport, PruneResult } from "./report.ts";
import type { SparseGptFactorCache } from "./sparsegpt-factor-cache.ts";
import type { LinearInputStats } from "./stats.ts";

export type { BlockAccess } from "./block-runner.ts";
export type { CalibrationInput, PruneOptions, PruneProgress } from "./prune-options.ts";
export type { LinearReport, PruneReport, PruneResult } from "./report.ts";

/** The report line of an N:M run on a linear whose width is not a multiple of M. */
function nmTailNote(nm: NmPattern, name: string, rows: number, cols: number): string {
  const t = cols % nm.m;
  const k = nmGroupPruned(nm, t);
  const perRow = nmRowPruned(nm, cols);
  return `prune: ${nm.n}:${nm.m} on ${name} [${rows}, ${cols}] of every block: the last ${t} input columns of each row form a tail group shorter than ${nm.m}, pruned at floor(${nm.n}·${t}/${nm.m}) = ${k}; ${perRow} of ${cols} per row (${((100 * perRow) / cols).toFixed(2)} %).`;
}

/**
 * Prune the 7 linears of every decoder block, sequentially (DESIGN.md §1/§3):
 *
 * 1. Embed every calibration window (hidden states for all windows stay resident).
 * 2. For each block l in order: run the still-dense block over the windows (in batches of
 *    `batchSize`) with capture hooks, accumulating only the statistics the method needs (Σx², Σx,
 *    XᵀX in float64, token counts, optional per-window weights); then for each linear q, k, v, o,
 *    gate, up, down: scorer → `selectMask` (group per method; N:M per row) → redistribution →
 *    `setLinearWeight` (that is {@link pruneLinear} per linear); then re-run the PRUNED block to produce block l+1's inputs. So block l's
 *    statistics come from blocks 0..l−1 already pruned, and inside a block from the dense block
 *    (the anchors' default).
 * 3. With OWL, a dense pre-pass first computes each block's outlier ratio from Wanda scores (the
 *    wanda scorer through `runScorer`).
 *
 * The method is a name looked up in `options.registry` (default: the built-ins) or a definition from
 * `defineMethod`; what it needs (statistics, calibration, W⁰) comes from `methodNeeds`.
 *
 * Data-free methods (magnitude, neg-magnitude, movement without calibration) skip the forward passes.
 * Pre-trained weights W⁰ are read from `preCheckpoint` one block at a time.
 *
 * @throws PruneError SPARSITY_INVALID (option sparsity ∉ [0, 1), N ≥ M, N:M with non-uniform
 *   allocation; from allocateSparsity for bad OWL/explicit lists); CALIBRATION_INVALID (option
 *   calibration missing for a data-driven method, empty, or wrong length; bad sampleWeights);
 *   SCORER_INPUT_MISSING (option preCheckpoint missing for a movement term); SCORER_NOT_FOUND (unknown
 *   method); SCORER_API_UNSUPPORTED (invalid method definition); RECIPE_INVALID (checkpoint and model both/neither, bad overrides); SHAPE_MISMATCH /
 *   TENSOR_IO_NOT_FOUND (preCheckpoint tensors); NUMERIC_FAILURE; ABORTED; and the errors of
 *   loadLlama, the scorers and the redistributors.
 * @example
 * const { model, report } = await prune({ checkpoint, method: "wanda", sparsity: 0.5, calibration });
 * report.overallSparsity; // 0.5 (up to floor rounding per row)
 */
export async function prune(options: PruneOptions): Promise<PruneResult> {
  checkPruneOptions(options);
  if ((options.checkpoint === undefined) === (options.model === undefined)) {
    throw new PruneError(
      "RECIPE_INVALID",
      `prune: options checkpoint and model are exclusive. Expected exactly one, got ${options.checkpoint === undefined ? "neither" : "both"}.`,
    );
  }
  const run = await startPrune(options, async (setup) => {
    const model =
      options.model ??
      (await loadLlama(options.checkpoint as Checkpoint, {
        ...(options.backend !== undefined ? { backend: options.backend } : {}),
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
      }));
    setup.model = model;
    return {
      config: model.config,
      backend: model.backend,
      embed: async (tokens) => model.embed(tokens),
      open: async (l) => ({ model, local: l }),
    };
  });
  for (let l = 0; l < run.numLayers; l++) await run.pruneBlock(l);
  return { model: run.setup.model!, report: run.report() };
}

/** A pruning run started by {@link startPrune}: prune blocks in order, then read the report. */
export interface PruneRun {
  readonly numLayers: number;
  /** Filled by the access factory: the resident model, when there is one. */
  readonly setup: { model?: LlamaModel };
  /** Prune block `l` (blocks must be pruned in order 0, 1, …). */
  pruneBlock(l: number): Promise<void>;
  report(): PruneReport;
}

/**
 * Validate the options, build the block access, embed the calibration windows and allocate sparsity;
 * the returned run prunes one block per call. {@link prune} runs it on a resident model;
 * `pruneToCheckpoint` runs it one block at a time from disk.
 *
 * @throws PruneError as {@link prune}; RangeError when blocks are pruned out of order.
 * @example
 * const run = await startPrune(options, makeAccess);
 * for (let l = 0; l < run.numLayers; l++) await run.pruneBlock(l);
 */
export async function startPrune(
  options: PruneOptions,
  makeAccess: (setup: { model?: LlamaModel }) => Promise<BlockAccess>,
): Promise<PruneRun> {
  checkPruneOptions(options);
  const clock = options.clock ?? ((): number => performance.now());
  const t0 = clock();
  const log = options.logger ?? SILENT_LOGGER;
  const signal = options.signal;
  // The block and linear loops give the event loop a turn (Ctrl-C, timers) and check the signal.
  const tick = createYielder(signal);
  const resolved = resolveMethod(options.method, {
    ...(options.registry !== undefined ? { registry: options.registry } : {}),
    ...(options.scorer !== undefined ? { scorer: options.scorer } : {}),
    ...(options.group !== undefined ? { group: options.group } : {}),
    ...(options.redistribution !== undefined ? { redistribution: options.redistribution } : {}),
    ...(options.methodOptions !== undefined ? { methodOptions: options.methodOptions } : {}),
    ...(options.mama !== undefined ? { mama: options.mama } : {}),
    hasPreCheckpoint: options.preCheckpoint !== undefined,
  });
  const method = resolved.method;
  const needs = methodNeeds(resolved, {
    ...(options.allocation !== undefined ? { allocation: options.allocation } : {}),
    ...(options.reconstructionError !== undefined
      ? { reconstructionError: options.reconstructionError }
      : {}),
  });
  const req = needs.inputs;
  if (needs.preWeights && options.preCheckpoint === undefined) {
    throw new PruneError(
      "SCORER_INPUT_MISSING",
      `prune: option preCheckpoint is required by method ${method} (scorer ${resolved.scorer?.name} needs "pre-weights"). Expected a pre-trained Checkpoint, got undefined.`,
    );
  }
  if (needs.gradients) {
    throw new PruneError(
      "SCORER_INPUT_MISSING",
      `prune: scorer ${resolved.scorer?.name} needs "gradients", which this pipeline does not compute. Expected a scorer without gradients, got requires [${req.join(", ")}].`,
    );
  }
  const weighted = options.sampleWeights !== undefined;
  const dataDriven = needs.calibration;
  if (dataDriven && options.calibration === undefined) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `prune: option calibration is required by method ${method} (redistribution ${resolved.redistribution}${options.allocation?.kind === "owl" ? ", OWL allocation" : ""}). Expected calibration windows, got undefined.`,
    );
  }

  const setup: { model?: LlamaModel } = {};
  const access = await makeAccess(setup);
  const config = access.config;
  const L = config.numLayers;
  options.onProgress?.({ stage: "load", done: 1, total: 1 });
  const cal = options.calibration;
  if (cal !== undefined) checkCalibration(cal, config, options.sampleWeights);
  const batchSize = options.batchSize ?? 8;
  const warnings: string[] = [];
  const warn = (m: string): void => {
    warnings.push(m);
    log.warn(m);
  };
  const backend = access.backend;

  // ---- Calibration hidden states ----
  let hidden: Float32Array | undefined; // (nsamples·seqlen, H)
  let rowWeights: Float32Array | undefined; // (nsamples·seqlen,)
  if (dataDriven && cal !== undefined) {
    hidden = await access.embed(cal.tokens);
    if (options.sampleWeights !== undefined) {
      rowWeights = new Float32Array(cal.nsamples * cal.seqlen);
      for (let k = 0; k < cal.nsamples; k++) {
        rowWeights.fill(options.sampleWeights[k]!, k * cal.seqlen, (k + 1) * cal.seqlen);
      }
    }
    options.onProgress?.({ stage: "calibrate", done: 1, total: 1 });
  }
  // The dense model's hidden states, carried beside the pruned ones only when the method asks for
  // the cross-Gram X̃ᵀX (MAMA's target "dense"); every other run never allocates it.
  let denseHidden: Float32Array | undefined = // (nsamples·seqlen, H)
    needs.stats.crossGram === true && hidden !== undefined ? new Float32Array(hidden) : undefined;

  // ---- Per-block sparsity ----
  const nm = typeof options.sparsity === "number" ? undefined : options.sparsity;
  let perBlock: number[];
  if (nm !== undefined) {
    perBlock = new Array<number>(L).fill(nm.n / nm.m);
  } else {
    const spec = options.allocation ?? { kind: "uniform" };
    let outlierRatios: number[] | undefined;
    if (spec.kind === "owl" && hidden !== undefined && cal !== undefined) {
      outlierRatios = await owlOutlierRatios({
        access,
        hidden,
        calibration: cal,
        batchSize,
        ...(spec.M !== undefined ? { M: spec.M } : {}),
        log,
        signal,
        ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
      });
    }
    perBlock = allocateSparsity(spec, {
      layers: L,
      sparsity: options.sparsity as number,
      ...(outlierRatios !== undefined ? { outlierRatios } : {}),
    });
  }

  // ---- Sequential pruning, one block per call ----
  const reports: LinearReport[] = [];
  let zerosAll = 0;
  let totalAll = 0;
  let nextBlock = 0;
  const pruneBlock = async (l: number): Promise<void> => {
    if (l !== nextBlock) {
      throw new RangeError(`prune: blocks must be pruned in order. Expected block ${nextBlock}, got ${l}`);
    }
    nextBlock++;
    await tick(`prune: block ${l}`);
    const { model, local } = await access.open(l);
    let stats: Partial<Record<InputKey, LinearInputStats>> = {};
    // Inputs whose statistics the two-stream pass deferred: accumulated at their first linear.
    let deferred: Partial<Record<InputKey, () => Promise<LinearInputStats>>> = {};
    if (denseHidden !== undefined && hidden !== undefined && cal !== undefined) {
      let denseOutput: Float32Array;
      ({ stats, denseOutput, deferred } = await collectBlockStatsTwoStreams({
        model,
        local,
        hidden,
        denseHidden,
        calibration: cal,
        batchSize,
        rowWeights,
        needs: needs.stats,
        backend,
        signal,
        ...(options.collectGarbage !== undefined ? { collectGarbage: options.collectGarbage } : {}),
      }));
      denseHidden = denseOutput;
      // As below: every linear is replaced, its packed dense copy is of no further use (the dense
      // target's GEMMs pack W again for their one use and drop it).
      for (const name of LINEAR_NAMES) backend.invalidate(model.getLinearWeight(local, name));
    } else if (dataDriven && hidden !== undefined && cal !== undefined) {
      ({ stats } = await collectBlockStats({
        model,
        local,
        hidden,
        calibration: cal,
        batchSize,
        rowWeights,
        needs: needs.stats,
        backend,
        signal,
        keepOutput: false,
      }));
      // Every linear is replaced below, so the backend's packed copies of the dense weights are of no
      // further use: dropping them now lets SparseGPT's factor and GEMMs reuse that backend memory.
      for (const name of LINEAR_NAMES) backend.invalidate(model.getLinearWeight(local, name));
    }

    // The last linear of each shared input may let SparseGPT factor that input's Gram matrix in place,
    // and the input's statistics are dropped right after it (one Gram resident at a time at the end).
    const lastOf = new Map<InputKey, LinearName>();
    for (const name of LINEAR_NAMES) lastOf.set(INPUT_OF[name], name);
    // SparseGPT's factor of each shared input's Gram, made once for q/k/v and once for gate/up.
    const sparsegptFactors: SparseGptFactorCache = new Map();
    for (const name of LINEAR_NAMES) {
      await tick(`prune: block ${l} ${name}`);
      const tl = clock();
      const [rows, cols] = model.linearShape(local, name);
      const pname = linearTensorName(model, local, l, name);
      // The previous linear's (or the statistics pass's) dead arrays, before this linear's.
      await collectGarbageNow(options.collectGarbage);
      const later = deferred[INPUT_OF[name]];
      if (later !== undefined) {
        delete deferred[INPUT_OF[name]];
        stats[INPUT_OF[name]] = await later();
        await collectGarbageNow(options.collectGarbage); // the kept inputs and the accumulation's operands
      }
      const input = stats[INPUT_OF[name]];
      if (nm !== undefined && resolved.permute === "channels" && PERMUTABLE[name] && input !== undefined) {
        // N:M channel permutation: moves this linear's columns and its producers' rows (same function).
        // In place: the unpermuted Gram and cross-Gram are dropped anyway (no second cols² copy each).
        stats[INPUT_OF[name]] = permuteBlockChannels(model, local, name, input, nm, log, {
          inPlaceStats: true,
        }).stats;
      }
      // The live weight itself, not a copy (172 MiB per MLP linear of a 7B block, held through the
      // linear's OBS): methods and scorers never modify their input weight, and setLinearWeight copies
      // the result into it only after pruneLinear returns.
      const W = matrix(rows, cols, model.getLinearWeight(local, name)); // (rows, cols) dense
      const st = stats[INPUT_OF[name]];
      let preWeight: ReturnType<typeof matrix> | undefined;
      if (needs.preWeights) {
        const pre = options.preCheckpoint!;
        if (!pre.has(pname)) {
          throw new PruneError(
            "TENSOR_IO_NOT_FOUND",
            `prune: option preCheckpoint (${pre.source}) has no tensor "${pname}". Expected the pre-trained weight of the same name, got no such tensor.`,
          );
        }
        const pw = await pre.readF32(pname);
        if (pw.length !== rows * cols) {
          throw new PruneError(
            "SHAPE_MISMATCH",
            `prune: option preCheckpoint tensor "${pname}" has the wrong size. Expected [${rows}, ${cols}] (${rows * cols} values), got ${pw.length} values.`,
          );
        }
        preWeight = matrix(rows, cols, pw);
      }
      const r = await pruneLinear({
        name: pname,
        weight: W,
        method: resolved,
        sparsity: nm ?? perBlock[l]!,
        ...(st !== undefined ? { stats: st } : {}),
        ...(preWeight !== undefined ? { preWeight } : {}),
        ...(options.blockSize !== undefined ? { blockSize: options.blockSize } : {}),
        ...(options.damping !== undefined ? { damping: options.damping } : {}),
        ...(options.reconstructionError !== undefined
          ? { reconstructionError: options.reconstructionError }
          : {}),
        backend,
        ...(lastOf.get(INPUT_OF[name]) === name ? { gramDisposable: true } : {}),
        ...(options.collectGarbage !== undefined ? { collectGarbage: options.collectGarbage } : {}),
        sparsegptFactors,
        log,
        ...(signal !== undefined ? { signal } : {}),
      });
      if (lastOf.get(INPUT_OF[name]) === name) delete stats[INPUT_OF[name]];
      for (const m of r.warnings) warnings.push(m);
      const mc = r.meanCompensation;
      if (mc !== undefined && !mc.applied && l === 0 && name === "q_proj") {
        warn(
          `prune: mean compensation cannot be applied: ${mc.reason ?? "the linears have no bias"} (the shift is reported per layer, weights are only masked).`,
        );
      }
      if (nm !== undefined && l === 0 && cols % nm.m !== 0) warn(nmTailNote(nm, name, rows, cols));
      const newW = r.weight;
      model.setLinearWeight(local, name, newW); // tells the backend (ComputeBackend.invalidate)
      const zeros = countZeros(newW);
      zerosAll += zeros;
      totalAll += newW.length;
      reports.push({
        name: pname,
        layer: l,
        linear: name,
        shape: [rows, cols],
        zeros,
        sparsity: newW.length === 0 ? 0 : zeros / newW.length,
        targetSparsity: nm !== undefined ? nm.n / nm.m : perBlock[l]!,
        ...(nm !== undefined ? { nmTailColumns: cols % nm.m } : {}),
        redistribution: r.redistribution,
        ...(r.refitSolver !== undefined ? { refitSolver: r.refitSolver } : {}),
        ...(r.mamaPath !== undefined ? { mamaPath: r.mamaPath } : {}),
        ...(r.denseTarget !== undefined ? { denseTarget: r.denseTarget } : {}),
        ...(r.reconstructionError !== undefined ? { reconstructionError: r.reconstructionError } : {}),
        ...(r.dampingUsed !== undefined ? { dampingUsed: r.dampingUsed } : {}),
        ...(mc !== undefined ? { meanShiftNorm: mc.shiftNorm } : {}),
        wallTimeMs: clock() - tl,
      });
    }

    // Re-run the pruned block: its outputs are the next block's inputs.
    if (dataDriven && hidden !== undefined && cal !== undefined && l + 1 < L) {
      hidden = await runBlockBatched(
        model,
        local,
        hidden,
        cal,
        batchSize,
        undefined,
        undefined,
        true,
        signal,
      );
    }
    options.onProgress?.({ stage: "block", done: l + 1, total: L });
    if (l === L - 1) options.onProgress?.({ stage: "done", done: 1, total: 1 });
  };

  const report = (): PruneReport => ({
    method,
    scorer: resolved.scorer?.name ?? "sparsegpt-adaptive",
    group: nm !== undefined ? "n:m" : resolved.group,
    redistribution: resolved.redistribution,
    sparsity: nm !== undefined ? `${nm.n}:${nm.m}` : (options.sparsity as number),
    allocation: nm !== undefined ? "uniform" : (options.allocation?.kind ?? "uniform"),
    perBlockSparsity: perBlock,
    linears: reports,
    zeros: zerosAll,
    total: totalAll,
    overallSparsity: totalAll === 0 ? 0 : zerosAll / totalAll,
    ...(dataDriven && cal !== undefined
      ? {
          calibration: {
            nsamples: cal.nsamples,
            seqlen: cal.seqlen,
            tokens: cal.nsamples * cal.seqlen,
            weighted,
            protocol: cal.protocol ?? `${cal.nsamples} windows × ${cal.seqlen} tokens`,
          },
        }
      : {}),
    usedPreCheckpoint: needs.preWeights,
    backend: backend.name,
    wallTimeMs: clock() - t0,
    warnings,
  });
  return { numLayers: L, setup, pruneBlock, report };
}
