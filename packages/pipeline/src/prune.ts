// ---- The sequential pruning pipeline (DESIGN.md §1/§3) ----

import {
  type ComputeBackend,
  type Logger,
  matrix,
  PruneError,
  SILENT_LOGGER,
  throwIfAborted,
} from "@mama-prune/core";
import {
  LINEAR_NAMES,
  type LinearName,
  type LlamaConfig,
  type LlamaModel,
  loadLlama,
} from "@mama-prune/model";
import {
  leastSquaresRefit,
  meanCompensation,
  reconstructionError,
  sparsegpt,
} from "@mama-prune/redistribute";
import {
  allocateSparsity,
  type MamaOptions,
  type MaskGroup,
  type NmSparsity,
  owlOutlierRatio,
  runScorer,
  type ScoreContext,
  type ScorerPlugin,
  type SparsityAllocation,
  selectMask,
} from "@mama-prune/scoring";
import type { Checkpoint } from "@mama-prune/tensor-io";
import {
  type PruneMethod,
  REFIT_AUTO_MAX_FLOPS,
  type Redistribution,
  type ResolvedMethod,
  resolveMethod,
} from "./methods.ts";
import {
  columnMeans,
  columnNorms,
  createStatsAccumulator,
  type LinearInputStats,
  type StatsAccumulator,
  type StatsNeeds,
} from "./stats.ts";

/** Calibration windows as produced by `calibrationWindows` (only these fields are used). */
export interface CalibrationInput {
  /** Window tokens, row-major (nsamples, seqlen). */
  readonly tokens: Int32Array;
  readonly nsamples: number;
  readonly seqlen: number;
  /** Description of the draw, copied into the report. */
  readonly protocol?: string;
}

/** A progress event of {@link prune}. */
export interface PruneProgress {
  /**
   * `"load"` (model loaded), `"calibrate"` (calibration windows embedded), `"owl"` (dense pre-pass
   * for OWL, one event per block), `"block"` (one event per pruned block), `"done"`.
   */
  readonly stage: "load" | "calibrate" | "owl" | "block" | "done";
  readonly done: number;
  readonly total: number;
}

/** Options of {@link prune}. */
export interface PruneOptions {
  /** The checkpoint to prune (loaded with `loadLlama`; never modified). Either this or `model`. */
  readonly checkpoint?: Checkpoint;
  /** An already loaded model; its block linears are pruned IN PLACE. Either this or `checkpoint`. */
  readonly model?: LlamaModel;
  /** Backend for `loadLlama` when `checkpoint` is given (default: the model package's CPU backend). */
  readonly backend?: ComputeBackend;
  readonly method: PruneMethod;
  /**
   * Unstructured: fraction of zeros per linear in [0, 1) (the mean over blocks with OWL). N:M:
   * `{ n, m }` = N zeros in every M consecutive input columns of each row (2:4 = 50 %).
   */
  readonly sparsity: number | NmSparsity;
  /** How the sparsity is spread over blocks: uniform (default), OWL, or explicit per block. Unstructured only. */
  readonly allocation?: SparsityAllocation;
  /** Calibration windows; required by every method but magnitude / neg-magnitude / movement. */
  readonly calibration?: CalibrationInput;
  /**
   * Per-window sample weights (nsamples,), ≥ 0, e.g. reward-derived. Every statistic is weighted by
   * them (Σ w·x², Σ w·x, Σ w·xxᵀ) except the plain activation norms, which stay unweighted so that
   * "activation-norms" and "sample-weighted-activation-norms" differ.
   */
  readonly sampleWeights?: Float32Array;
  /** Pre-trained checkpoint giving W⁰ for movement terms (read block by block). */
  readonly preCheckpoint?: Checkpoint;
  /** Replace the method's scorer (a third-party plugin). */
  readonly scorer?: ScorerPlugin;
  /** Replace the method's comparison group (unstructured only). */
  readonly group?: MaskGroup;
  /** Replace the method's redistribution. */
  readonly redistribution?: Redistribution;
  /** MAMA scorer options (method mama). Default: the measured pipeline defaults. */
  readonly mama?: MamaOptions;
  /** SparseGPT lazy-batch width and mask block width (default 128). */
  readonly blockSize?: number;
  /** SparseGPT percdamp / refit relative damping (default 0.01). */
  readonly damping?: number;
  /** Calibration windows per forward batch (default 8): bounds the size of one block's activations. */
  readonly batchSize?: number;
  /** Compute trace(ΔW·H·ΔWᵀ) per linear when the Gram matrix is collected (default true). */
  readonly reconstructionError?: boolean;
  readonly onProgress?: (event: PruneProgress) => void;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** Milliseconds clock (default `performance.now`). */
  readonly clock?: () => number;
}

/** One pruned linear in a {@link PruneReport}. */
export interface LinearReport {
  /** Checkpoint tensor name, e.g. `model.layers.3.mlp.down_proj.weight`. */
  readonly name: string;
  readonly layer: number;
  readonly linear: LinearName;
  readonly shape: readonly [number, number];
  /** Zeros in the final weight (including any zeros that were there before). */
  readonly zeros: number;
  readonly sparsity: number;
  /** Requested sparsity of this linear (N/M for N:M). */
  readonly targetSparsity: number;
  /** trace((W − W')·H·(W − W')ᵀ) with H = Σ w·xxᵀ of the dense block's input; only when H was collected. */
  readonly reconstructionError?: number;
  /** The redistribution that ran on this linear ("auto" resolved to "refit" or "sparsegpt"). */
  readonly redistribution: Exclude<Redistribution, "auto">;
  /** Absolute damping added by SparseGPT / refit, when used. */
  readonly dampingUsed?: number;
  /** ‖shift‖₂ that mean compensation would fold into a bias (redistribution "mean" only). */
  readonly meanShiftNorm?: number;
  /** Scoring + mask + redistribution time. */
  readonly wallTimeMs: number;
}

/** What {@link prune} did, per layer and overall. */
export interface PruneReport {
  readonly method: PruneMethod;
  /** Scorer name, or "sparsegpt-adaptive". */
  readonly scorer: string;
  readonly group: MaskGroup;
  readonly redistribution: Redistribution;
  /** The requested sparsity (number, or "N:M"). */
  readonly sparsity: number | string;
  readonly allocation: SparsityAllocation["kind"];
  /** Target sparsity per block (N/M for every block with N:M). */
  readonly perBlockSparsity: readonly number[];
  readonly linears: readonly LinearReport[];
  /** Zeros and weights over all block linears. */
  readonly zeros: number;
  readonly total: number;
  readonly overallSparsity: number;
  /** Calibration protocol; undefined for data-free runs. */
  readonly calibration?: {
    readonly nsamples: number;
    readonly seqlen: number;
    readonly tokens: number;
    readonly weighted: boolean;
    readonly protocol: string;
  };
  readonly usedPreCheckpoint: boolean;
  readonly backend: string;
  readonly wallTimeMs: number;
  /** Warnings (damping escalations, mean compensation not applicable, …), also sent to the logger. */
  readonly warnings: readonly string[];
}

/** Result of {@link prune}. */
export interface PruneResult {
  /** The pruned model (the `model` option itself when given). */
  readonly model: LlamaModel;
  readonly report: PruneReport;
}

/** Which hook name starts each shared input, and which linears read it. */
const INPUT_OF: Readonly<Record<LinearName, "attn" | "o" | "mlp" | "down">> = {
  q_proj: "attn",
  k_proj: "attn",
  v_proj: "attn",
  o_proj: "o",
  gate_proj: "mlp",
  up_proj: "mlp",
  down_proj: "down",
};
type InputKey = "attn" | "o" | "mlp" | "down";

function isNm(s: number | NmSparsity): s is NmSparsity {
  return typeof s === "object" && s !== null;
}

function checkOptions(o: PruneOptions): void {
  const s = o.sparsity;
  if (isNm(s)) {
    const { n, m } = s;
    if (!Number.isInteger(n) || !Number.isInteger(m) || m < 1 || n < 0 || n >= m) {
      throw new PruneError(
        "SPARSITY_INVALID",
        `prune: option sparsity is an invalid N:M pattern. Expected integers 0 <= n < m (n zeros per m), got n=${String(n)}, m=${String(m)}.`,
      );
    }
    if (o.allocation !== undefined && o.allocation.kind !== "uniform") {
      throw new PruneError(
        "SPARSITY_INVALID",
        `prune: option allocation must be uniform with N:M sparsity. Expected { kind: "uniform" }, got kind ${o.allocation.kind}.`,
      );
    }
  } else if (typeof s !== "number" || !Number.isFinite(s) || s < 0 || s >= 1) {
    throw new PruneError(
      "SPARSITY_INVALID",
      `prune: option sparsity is out of range. Expected a number in [0, 1) or { n, m }, got ${String(s).slice(0, 40)}.`,
    );
  }
  if (o.batchSize !== undefined && (!Number.isInteger(o.batchSize) || o.batchSize < 1)) {
    throw new RangeError(`prune: option batchSize must be a positive integer, got ${o.batchSize}`);
  }
}

function checkCalibration(
  cal: CalibrationInput,
  config: LlamaConfig,
  sampleWeights: Float32Array | undefined,
): void {
  const { nsamples, seqlen, tokens } = cal;
  if (!Number.isInteger(nsamples) || !Number.isInteger(seqlen) || nsamples < 1 || seqlen < 1) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `prune: option calibration is empty. Expected nsamples >= 1 windows of seqlen >= 1 tokens, got ${nsamples} × ${seqlen}.`,
    );
  }
  if (!(tokens instanceof Int32Array) || tokens.length !== nsamples * seqlen) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `prune: option calibration.tokens has the wrong length. Expected nsamples·seqlen = ${nsamples * seqlen} (Int32Array), got ${tokens?.length}.`,
    );
  }
  if (seqlen > config.maxPositionEmbeddings) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `prune: option calibration.seqlen exceeds the model's context. Expected <= ${config.maxPositionEmbeddings}, got ${seqlen}.`,
    );
  }
  const V = config.vocabSize;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t < 0 || t >= V) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `prune: option calibration.tokens[${i}] is outside the vocabulary. Expected an id in [0, ${V}), got ${t}.`,
      );
    }
  }
  if (sampleWeights !== undefined) {
    if (!(sampleWeights instanceof Float32Array) || sampleWeights.length !== nsamples) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `prune: option sampleWeights has the wrong length. Expected one weight per window (${nsamples}), got ${sampleWeights?.length}.`,
      );
    }
    let total = 0;
    for (let k = 0; k < nsamples; k++) {
      const w = sampleWeights[k]!;
      if (!Number.isFinite(w) || w < 0) {
        throw new PruneError(
          "CALIBRATION_INVALID",
          `prune: option sampleWeights[${k}] is invalid. Expected a finite number >= 0, got ${w}.`,
        );
      }
      total += w;
    }
    if (!(total > 0)) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        "prune: option sampleWeights sums to zero. Expected at least one positive weight, got all zeros.",
      );
    }
  }
}

/** Statistics each input needs for this run. */
function statsNeeds(resolved: ResolvedMethod, o: PruneOptions, weighted: boolean): StatsNeeds {
  const req = resolved.scorer?.requires ?? [];
  const needGram =
    resolved.redistribution === "sparsegpt" ||
    resolved.redistribution === "refit" ||
    resolved.redistribution === "auto" ||
    o.reconstructionError === true;
  return {
    sqNorm: req.includes("activation-norms") || o.allocation?.kind === "owl",
    weightedSqNorm: weighted && req.includes("sample-weighted-activation-norms"),
    sum: req.includes("activation-mean") || resolved.redistribution === "mean",
    gram: needGram,
  };
}

function needsAny(n: StatsNeeds): boolean {
  return Boolean(n.sqNorm || n.weightedSqNorm || n.sum || n.gram);
}

/** Run one block over all calibration windows in batches; hooks accumulate stats when given. */
async function runBlockBatched(
  model: LlamaModel,
  layer: number,
  hidden: Float32Array, // (nsamples·seqlen, H)
  cal: CalibrationInput,
  batchSize: number,
  rowWeights: Float32Array | undefined, // (nsamples·seqlen,)
  accs: Partial<Record<InputKey, StatsAccumulator>> | undefined,
  keepOutput: boolean,
  signal: AbortSignal | undefined,
): Promise<Float32Array | undefined> {
  const H = model.config.hiddenSize;
  const S = cal.seqlen;
  const out = keepOutput ? new Float32Array(hidden.length) : undefined; // (nsamples·seqlen, H)
  for (let b0 = 0; b0 < cal.nsamples; b0 += batchSize) {
    throwIfAborted(signal, `prune: block ${layer}`);
    const nb = Math.min(batchSize, cal.nsamples - b0);
    const r0 = b0 * S;
    const rows = nb * S;
    const x = hidden.subarray(r0 * H, (r0 + rows) * H); // (rows, H)
    const w = rowWeights?.subarray(r0, r0 + rows); // (rows,)
    const hooks =
      accs === undefined
        ? undefined
        : {
            onLinearInput: async (name: LinearName, xin: Float32Array, n: number): Promise<void> => {
              // q/k/v and gate/up share one input: accumulate once, at the first linear of the group.
              if (name === "k_proj" || name === "v_proj" || name === "up_proj") return;
              const acc = accs[INPUT_OF[name]];
              if (acc !== undefined) await acc.add(xin, n, w);
            },
          };
    const y = await model.runBlock(layer, x, nb, S, hooks); // (rows, H)
    if (out) out.set(y, r0 * H);
  }
  return out;
}

/** Input width of one shared linear input of block `local`. */
function inputCols(model: LlamaModel, local: number, k: InputKey): number {
  if (k === "o") return model.linearShape(local, "o_proj")[1];
  if (k === "down") return model.linearShape(local, "down_proj")[1];
  return model.linearShape(local, "q_proj")[1];
}

/** "auto": the exact refit when rows·min(kept, pruned)³/6 stays under REFIT_AUTO_MAX_FLOPS. */
function autoRedistribution(mask: Uint8Array, rows: number, cols: number): "refit" | "sparsegpt" {
  let cost = 0;
  for (let i = 0; i < rows; i++) {
    let k = 0;
    for (let j = 0; j < cols; j++) k += mask[i * cols + j]!;
    const m = Math.min(k, cols - k);
    cost += (m * m * m) / 6;
  }
  return cost <= REFIT_AUTO_MAX_FLOPS ? "refit" : "sparsegpt";
}

function countZeros(w: Float32Array): number {
  let z = 0;
  for (let i = 0; i < w.length; i++) if (w[i] === 0) z++;
  return z;
}

/**
 * Prune the 7 linears of every decoder block, sequentially (DESIGN.md §1/§3):
 *
 * 1. Embed every calibration window (hidden states for all windows stay resident).
 * 2. For each block l in order: run the still-dense block over the windows (in batches of
 *    `batchSize`) with capture hooks, accumulating only the statistics the method needs (Σx², Σx,
 *    XᵀX in float64, token counts, optional per-window weights); then for each linear q, k, v, o,
 *    gate, up, down: scorer → `selectMask` (group per method; N:M per row) → redistribution →
 *    `setLinearWeight`; then re-run the PRUNED block to produce block l+1's inputs. So block l's
 *    statistics come from blocks 0..l−1 already pruned, and inside a block from the dense block
 *    (the anchors' default).
 * 3. With OWL, a dense pre-pass first computes each block's outlier ratio from Wanda scores.
 *
 * Data-free methods (magnitude, neg-magnitude, movement without calibration) skip the forward passes.
 * Pre-trained weights W⁰ are read from `preCheckpoint` one block at a time.
 *
 * @throws PruneError SPARSITY_INVALID (option sparsity ∉ [0, 1), N ≥ M, N:M with non-uniform
 *   allocation; from allocateSparsity for bad OWL/explicit lists); CALIBRATION_INVALID (option
 *   calibration missing for a data-driven method, empty, or wrong length; bad sampleWeights);
 *   SCORER_INPUT_MISSING (option preCheckpoint missing for a movement term); SCORER_NOT_FOUND (unknown
 *   method); RECIPE_INVALID (checkpoint and model both/neither, bad overrides); SHAPE_MISMATCH /
 *   TENSOR_IO_NOT_FOUND (preCheckpoint tensors); NUMERIC_FAILURE; ABORTED; and the errors of
 *   loadLlama, the scorers and the redistributors.
 * @example
 * const { model, report } = await prune({ checkpoint, method: "wanda", sparsity: 0.5, calibration });
 * report.overallSparsity; // 0.5 (up to floor rounding per row)
 */
export async function prune(options: PruneOptions): Promise<PruneResult> {
  checkOptions(options);
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

/** Where the decoder blocks come from: one resident model, or one block at a time. */
export interface BlockAccess {
  readonly config: LlamaConfig;
  readonly backend: ComputeBackend;
  /** Embedding rows of the calibration tokens (nsamples·seqlen, hidden). */
  embed(tokens: Int32Array): Promise<Float32Array>;
  /** A model that can run layer `l`, and the index of `l` inside that model. */
  open(l: number): Promise<{ readonly model: LlamaModel; readonly local: number }>;
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
  checkOptions(options);
  const clock = options.clock ?? ((): number => performance.now());
  const t0 = clock();
  const log = options.logger ?? SILENT_LOGGER;
  const signal = options.signal;
  const resolved = resolveMethod(options.method, {
    ...(options.scorer !== undefined ? { scorer: options.scorer } : {}),
    ...(options.group !== undefined ? { group: options.group } : {}),
    ...(options.redistribution !== undefined ? { redistribution: options.redistribution } : {}),
    ...(options.mama !== undefined ? { mama: options.mama } : {}),
    hasPreCheckpoint: options.preCheckpoint !== undefined,
  });
  const req = resolved.scorer?.requires ?? [];
  const needsPre = req.includes("pre-weights");
  if (needsPre && options.preCheckpoint === undefined) {
    throw new PruneError(
      "SCORER_INPUT_MISSING",
      `prune: option preCheckpoint is required by method ${options.method} (scorer ${resolved.scorer?.name} needs "pre-weights"). Expected a pre-trained Checkpoint, got undefined.`,
    );
  }
  if (req.includes("gradients")) {
    throw new PruneError(
      "SCORER_INPUT_MISSING",
      `prune: scorer ${resolved.scorer?.name} needs "gradients", which this pipeline does not compute. Expected a scorer without gradients, got requires [${req.join(", ")}].`,
    );
  }
  const weighted = options.sampleWeights !== undefined;
  const needs = statsNeeds(resolved, options, weighted);
  if (req.includes("sample-weighted-activation-norms") && !weighted) {
    // Without sample weights, the weighted norms are the plain ones.
    (needs as { weightedSqNorm?: boolean }).weightedSqNorm = true;
  }
  const dataDriven = needsAny(needs);
  if (dataDriven && options.calibration === undefined) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `prune: option calibration is required by method ${options.method} (redistribution ${resolved.redistribution}${options.allocation?.kind === "owl" ? ", OWL allocation" : ""}). Expected calibration windows, got undefined.`,
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
  const invalidate = (backend as { invalidate?: (w: Float32Array) => void }).invalidate;

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

  // ---- Per-block sparsity ----
  const nm = isNm(options.sparsity) ? options.sparsity : undefined;
  let perBlock: number[];
  if (nm !== undefined) {
    perBlock = new Array<number>(L).fill(nm.n / nm.m);
  } else {
    const spec = options.allocation ?? { kind: "uniform" };
    let outlierRatios: number[] | undefined;
    if (spec.kind === "owl" && hidden !== undefined && cal !== undefined) {
      outlierRatios = [];
      let h = hidden;
      for (let l = 0; l < L; l++) {
        const { model, local } = await access.open(l);
        const accs: Partial<Record<InputKey, StatsAccumulator>> = {};
        for (const k of ["attn", "o", "mlp", "down"] as const) {
          accs[k] = createStatsAccumulator(inputCols(model, local, k), { sqNorm: true }, backend);
        }
        h = (await runBlockBatched(model, local, h, cal, batchSize, undefined, accs, true, signal))!;
        const scores: Float32Array[] = [];
        for (const name of LINEAR_NAMES) {
          const [rows, cols] = model.linearShape(local, name);
          const norms = columnNorms(accs[INPUT_OF[name]]!.result().sqNorm!);
          const w = model.getLinearWeight(local, name);
          const s = new Float32Array(rows * cols); // (rows, cols) Wanda scores
          for (let i = 0; i < rows; i++)
            for (let j = 0; j < cols; j++) s[i * cols + j] = Math.abs(w[i * cols + j]!) * norms[j]!;
          scores.push(s);
        }
        const om = spec.M;
        outlierRatios.push(owlOutlierRatio(scores, om ?? 5));
        options.onProgress?.({ stage: "owl", done: l + 1, total: L });
      }
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
    throwIfAborted(signal, `prune: block ${l}`);
    const { model, local } = await access.open(l);
    const sBlock = perBlock[l]!;
    const stats: Partial<Record<InputKey, LinearInputStats>> = {};
    if (dataDriven && hidden !== undefined && cal !== undefined) {
      const accs: Partial<Record<InputKey, StatsAccumulator>> = {};
      for (const k of ["attn", "o", "mlp", "down"] as const) {
        accs[k] = createStatsAccumulator(inputCols(model, local, k), needs, backend);
      }
      await runBlockBatched(model, local, hidden, cal, batchSize, rowWeights, accs, false, signal);
      for (const k of ["attn", "o", "mlp", "down"] as const) stats[k] = accs[k]!.result();
    }

    for (const name of LINEAR_NAMES) {
      const tl = clock();
      const [rows, cols] = model.linearShape(local, name);
      const pname = model.parameterName(local, name).replace(`model.layers.${local}.`, `model.layers.${l}.`);
      const live = model.getLinearWeight(local, name);
      const W = matrix(rows, cols, new Float32Array(live)); // (rows, cols) dense copy
      const st = stats[INPUT_OF[name]];
      const gram = st?.gram; // (cols, cols)
      let newW: Float32Array; // (rows, cols)
      let dampingUsed: number | undefined;
      let meanShiftNorm: number | undefined;
      let used: Exclude<Redistribution, "auto"> = "sparsegpt";
      const target = nm !== undefined ? nm.n / nm.m : sBlock;

      if (resolved.scorer === undefined) {
        // SparseGPT with its adaptive mask.
        const r = await sparsegpt(W, gram!, {
          sparsity: nm ?? sBlock,
          ...(options.blockSize !== undefined ? { blockSize: options.blockSize } : {}),
          ...(options.damping !== undefined ? { percdamp: options.damping } : {}),
          name: pname,
          log,
          ...(signal !== undefined ? { signal } : {}),
        });
        newW = r.weight;
        dampingUsed = r.dampingUsed;
        for (const m of r.diagnostics.warnings) warnings.push(m);
      } else {
        const ctx: {
          -readonly [K in keyof ScoreContext]: ScoreContext[K];
        } = { name: pname, weight: W, log };
        if (signal !== undefined) ctx.signal = signal;
        if (st !== undefined) ctx.tokens = st.tokens;
        if (req.includes("activation-norms")) ctx.activationNorms = columnNorms(st!.sqNorm!);
        if (req.includes("sample-weighted-activation-norms"))
          ctx.sampleWeightedActivationNorms = columnNorms(st!.weightedSqNorm!);
        if (req.includes("activation-mean")) ctx.activationMean = columnMeans(st!.sum!, st!.weightSum);
        if (needsPre) {
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
          ctx.preWeight = matrix(rows, cols, pw);
        }
        const scores = await runScorer(resolved.scorer, ctx);
        const mask =
          nm !== undefined
            ? selectMask(scores, rows, cols, { sparsity: nm, group: "n:m", name: pname })
            : selectMask(scores, rows, cols, {
                sparsity: sBlock,
                group: resolved.group,
                ...(options.blockSize !== undefined ? { blockSize: options.blockSize } : {}),
                name: pname,
              });
        used =
          resolved.redistribution === "auto" ? autoRedistribution(mask, rows, cols) : resolved.redistribution;
        switch (used) {
          case "none":
          case "mean": {
            newW = new Float32Array(W.data);
            for (let k = 0; k < newW.length; k++) if (mask[k] === 0) newW[k] = 0;
            if (resolved.redistribution === "mean") {
              const r = meanCompensation(W, mask, columnMeans(st!.sum!, st!.weightSum), undefined, {
                name: pname,
              });
              let s2 = 0;
              for (let i = 0; i < r.shift.length; i++) s2 += r.shift[i]! * r.shift[i]!;
              meanShiftNorm = Math.sqrt(s2);
              if (!r.applied && l === 0 && name === "q_proj") {
                warn(
                  `prune: mean compensation cannot be applied: ${r.reason ?? "the linears have no bias"} (the shift is reported per layer, weights are only masked).`,
                );
              }
            }
            break;
          }
          case "sparsegpt": {
            const r = await sparsegpt(W, gram!, {
              mask,
              ...(options.blockSize !== undefined ? { blockSize: options.blockSize } : {}),
              ...(options.damping !== undefined ? { percdamp: options.damping } : {}),
              name: pname,
              log,
              ...(signal !== undefined ? { signal } : {}),
            });
            newW = r.weight;
            dampingUsed = r.dampingUsed;
            for (const m of r.diagnostics.warnings) warnings.push(m);
            break;
          }
          case "refit": {
            const r = await leastSquaresRefit(W, gram!, mask, {
              ...(options.damping !== undefined ? { damping: options.damping } : {}),
              name: pname,
              log,
              ...(signal !== undefined ? { signal } : {}),
            });
            newW = r.weight;
            dampingUsed = r.dampingUsed;
            for (const m of r.warnings) warnings.push(m);
            break;
          }
        }
      }
      model.setLinearWeight(local, name, newW);
      invalidate?.call(backend, live);
      const zeros = countZeros(newW);
      zerosAll += zeros;
      totalAll += newW.length;
      const recon =
        gram !== undefined && options.reconstructionError !== false
          ? reconstructionError(W, newW, gram)
          : undefined;
      reports.push({
        name: pname,
        layer: l,
        linear: name,
        shape: [rows, cols],
        zeros,
        sparsity: newW.length === 0 ? 0 : zeros / newW.length,
        targetSparsity: target,
        redistribution: used,
        ...(recon !== undefined ? { reconstructionError: recon } : {}),
        ...(dampingUsed !== undefined ? { dampingUsed } : {}),
        ...(meanShiftNorm !== undefined ? { meanShiftNorm } : {}),
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
    method: options.method,
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
    usedPreCheckpoint: needsPre,
    backend: backend.name,
    wallTimeMs: clock() - t0,
    warnings,
  });
  return { numLayers: L, setup, pruneBlock, report };
}
