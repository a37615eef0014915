// ---- A measured sweep: the dense model, calibration windows per seed, every method × level × seed,
// and the paper-format table with the protocol line that produced it ----

import type { ComputeBackend } from "@mama-prune/core";
import {
  cachingTokenizer,
  type PerplexityResult,
  type PerplexityTokenizer,
  perplexity,
  type ReportTable,
  reportTableFromPoints,
} from "@mama-prune/eval";
import { createCpuBackend, type LlamaModel, loadLlama } from "@mama-prune/model";
import type { SparsityAllocation } from "@mama-prune/scoring";
import type { Checkpoint, WritableCheckpointDir } from "@mama-prune/tensor-io";
import { calibrationProtocol, calibrationWindows, splitCalibrationText } from "./calibration.ts";
import type { PruneMethod } from "./methods.ts";
import type { PruneOptions, PruneProgress, PruneReport } from "./prune.ts";
import { pruneToCheckpoint } from "./stream.ts";
import { streamingPerplexity } from "./stream-perplexity.ts";
import {
  levelLabel,
  type SweepCalibration,
  type SweepLevel,
  type SweepMethod,
  type SweepRow,
  type SweepRunInfo,
  sweep,
  toSweepMethod,
} from "./sweep.ts";

/** One run's scratch folder of a streamed {@link measureSweep}. */
export interface SweepScratchFolder {
  /** Where the pruned model is written (committed when complete). */
  readonly dir: WritableCheckpointDir;
  /** Open the written folder for evaluation. */
  open(): Promise<Checkpoint>;
  /** Delete the folder (called after the run's evaluation, also on failure). */
  remove(): Promise<void>;
}

/** Calibration of a {@link measureSweep}: windows drawn once per seed from one token stream. */
export interface MeasureSweepCalibration {
  /**
   * The calibration text. Absent: the evaluation text is split into disjoint paragraphs
   * (`splitCalibrationText`): the last `split` fraction calibrates, the rest is evaluated.
   */
  readonly text?: string;
  /** Fraction of paragraphs that calibrate when `text` is absent. Default 0.15. */
  readonly split?: number;
  readonly nsamples: number;
  readonly seqlen: number;
  /** One draw per seed (at least one). Calibrated methods run once per seed. */
  readonly seeds: readonly number[];
}

/** Callbacks of a {@link measureSweep} (progress bars, log lines). */
export interface MeasureSweepHooks {
  /** Called once per seed after its windows were drawn. */
  readonly onCalibration?: (c: SweepCalibration & { readonly streamTokens: number }) => void;
  /** Progress of one evaluation ("dense", "Wanda @ 0.5", "Wanda @ 0.5 (seed 1)"). */
  readonly evaluation?: (label: string) => {
    readonly onProgress?: (done: number, total: number) => void;
    readonly onDone?: (r: PerplexityResult) => void;
  };
  /** Progress of one run's prune. */
  readonly pruneProgress?: (label: string) => ((e: PruneProgress) => void) | undefined;
  readonly onDense?: (r: PerplexityResult) => void;
  /** After each run, with its progress label. */
  readonly onRow?: (row: SweepRow, label: string) => void;
}

/** Options of {@link measureSweep}. */
export interface MeasureSweepOptions {
  readonly checkpoint: Checkpoint;
  /** Compute backend of every forward pass (default: the model package's CPU backend). */
  readonly backend?: ComputeBackend;
  readonly tokenizer: PerplexityTokenizer;
  /** Columns, in table order. */
  readonly methods: readonly (PruneMethod | SweepMethod)[];
  /** Rows after the dense row "0" (a level 0 is the dense model, measured once, and is skipped here). */
  readonly levels: readonly SweepLevel[];
  readonly evaluation: {
    readonly text: string;
    /** Name of the text in the protocol line (e.g. the file name). */
    readonly name: string;
    readonly seqlen: number;
    /** Score only the first `windows` windows. Default: all. */
    readonly windows?: number;
  };
  /** Absent: no calibration (data-free methods only). */
  readonly calibration?: MeasureSweepCalibration;
  /** The model in the protocol line: name (default `checkpoint.source`) and sha256 of its bytes. */
  readonly modelName?: string;
  readonly modelChecksum?: string;
  /** Pre-trained checkpoint (W⁰) for movement terms, and its name in the protocol line. */
  readonly preCheckpoint?: Checkpoint;
  readonly preName?: string;
  readonly allocation?: SparsityAllocation;
  /** Table title. */
  readonly title: string;
  readonly signal?: AbortSignal;
  readonly hooks?: MeasureSweepHooks;
  /**
   * Stream instead of holding models resident: the dense model is evaluated layer by layer
   * (`streamingPerplexity`), and every run is pruned with `pruneToCheckpoint` (one block resident)
   * into a scratch folder from `scratch(label)`, evaluated streamed from there and deleted. Same
   * numbers as resident (to float64 rounding of the head's log-sum-exp); the protocol line says
   * "streamed". Default: resident (`loadLlama` + `prune`), protocol unchanged.
   */
  readonly streaming?: { readonly scratch: (label: string) => Promise<SweepScratchFolder> };
  /** Milliseconds clock (default `performance.now`). */
  readonly clock?: () => number;
}

/** What {@link measureSweep} measured. */
export interface SweepResult {
  /** Levels × columns, row "0" = the dense model; mean ± sample std per cell with several seeds. */
  readonly table: ReportTable;
  /** The protocol line (also `table.protocol`). */
  readonly protocol: string;
  readonly dense: PerplexityResult;
  readonly rows: readonly SweepRow[];
  /** The calibration seeds (empty without calibration). */
  readonly seeds: readonly number[];
  /** Name of the model and the evaluation text as written in the protocol line. */
  readonly modelName: string;
  readonly evaluationName: string;
  readonly backend: string;
  readonly wallTimeMs: number;
}

/**
 * The evaluation protocol of a sweep's perplexities, from the structured fields of one result (the
 * same for every model evaluated on that text): text name and checksum, windows, tokens scored. The
 * result's own `protocol` also carries its perplexity and wall time, which belong to one model only.
 *
 * @example
 * evaluationProtocol(dense);
 * // "val.txt (sha256 07f9c9ce77fa058f), 16 of 962 non-overlapping windows of seqlen 256, 4080 tokens scored, ppl = exp(mean NLL)"
 */
export function evaluationProtocol(r: PerplexityResult): string {
  return `${r.dataset.name} (sha256 ${r.dataset.sha256.slice(0, 16)}), ${r.windows} of ${r.windowsAvailable} non-overlapping windows of seqlen ${r.seqlen}, ${r.tokensScored} tokens scored, ppl = exp(mean NLL)`;
}

/** Protocol text of the spread, when a sweep has several seeds. */
export function spreadProtocol(seeds: readonly number[]): string {
  return `cells: mean ± sample standard deviation (n − 1) of the ${seeds.length} perplexities from calibration seeds ${seeds.join(", ")}; methods that do not use calibration ran once`;
}

/**
 * Measure a sweep: evaluate the dense model, draw calibration windows once per seed, prune a fresh
 * copy of the checkpoint for every method × level × seed ({@link sweep}), evaluate each on the same
 * windows of the evaluation text, and build the paper-format table (row "0" = the dense model) with
 * one protocol line naming the model and its checksum, the evaluation protocol, the calibration
 * protocol (nsamples × seqlen, seeds, split), the allocation, the backend and, with several seeds,
 * what the spread is.
 *
 * @throws PruneError everything {@link prune}, `perplexity` and `calibrationWindows` throw.
 * @throws RangeError for an empty seed list.
 * @example
 * const r = await measureSweep({ checkpoint, tokenizer, methods: ["wanda"], levels: [0.5], title: "T",
 *   evaluation: { text, name: "val.txt", seqlen: 256, windows: 16 },
 *   calibration: { nsamples: 16, seqlen: 256, seeds: [0, 1, 2] } });
 * reportMarkdown(r.table);
 */
export async function measureSweep(o: MeasureSweepOptions): Promise<SweepResult> {
  const clock = o.clock ?? (() => performance.now());
  const t0 = clock();
  const hooks = o.hooks ?? {};
  const tokenizer = cachingTokenizer(o.tokenizer);
  let evalText = o.evaluation.text;
  let evalName = o.evaluation.name;
  let calText: string | undefined;
  let splitProtocol = "";
  const c = o.calibration;
  if (c !== undefined) {
    if (c.seeds.length === 0) {
      throw new RangeError("measureSweep: option calibration.seeds must list at least one seed, got none");
    }
    if (c.text === undefined) {
      const split = splitCalibrationText(evalText, { calibrationFraction: c.split ?? 0.15 });
      evalText = split.evaluation;
      calText = split.calibration;
      evalName = `${evalName} (evaluation split)`;
      splitProtocol = ` from the calibration split (${split.protocol})`;
    } else calText = c.text;
  }
  let cals: SweepCalibration[] = [];
  let calProtocol = "none (data-free methods)";
  if (c !== undefined && calText !== undefined) {
    const tokens = tokenizer.encode(calText, { bos: false, eos: false });
    cals = c.seeds.map((seed) => {
      const windows = calibrationWindows(tokens, { nsamples: c.nsamples, seqlen: c.seqlen, seed });
      hooks.onCalibration?.({ seed, windows, streamTokens: tokens.length });
      return { seed, windows };
    });
    const draw = calibrationProtocol({
      nsamples: c.nsamples,
      seqlen: c.seqlen,
      streamTokens: tokens.length,
      seeds: c.seeds,
    });
    calProtocol = `${draw}${splitProtocol}, sequential`;
  }
  const modelName = o.modelName ?? o.checkpoint.source;
  const evaluate = async (model: LlamaModel, label: string): Promise<PerplexityResult> => {
    const h = hooks.evaluation?.(label);
    const r = await perplexity(model, tokenizer, evalText, {
      seqlen: o.evaluation.seqlen,
      ...(o.evaluation.windows !== undefined ? { maxWindows: o.evaluation.windows } : {}),
      datasetName: evalName,
      backendName: model.backend.name,
      ...(o.modelChecksum !== undefined ? { modelChecksum: o.modelChecksum } : {}),
      ...(h?.onProgress !== undefined ? { onProgress: h.onProgress } : {}),
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
    });
    h?.onDone?.(r);
    return r;
  };
  const streamed = async (ckpt: Checkpoint, label: string): Promise<PerplexityResult> => {
    const h = hooks.evaluation?.(label);
    const r = await streamingPerplexity(ckpt, tokenizer, evalText, {
      seqlen: o.evaluation.seqlen,
      ...(o.evaluation.windows !== undefined ? { maxWindows: o.evaluation.windows } : {}),
      datasetName: evalName,
      backend: streamBackend!,
      ...(o.modelChecksum !== undefined ? { modelChecksum: o.modelChecksum } : {}),
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
      ...(h?.onProgress !== undefined
        ? { onProgress: (p) => p.stage === "block" && h.onProgress?.(p.done, p.total) }
        : {}),
    });
    h?.onDone?.(r);
    return r;
  };
  const streamBackend = o.streaming !== undefined ? (o.backend ?? createCpuBackend()) : undefined;
  let backendName: string;
  let dense: PerplexityResult;
  if (streamBackend !== undefined) {
    backendName = streamBackend.name;
    dense = await streamed(o.checkpoint, "dense");
  } else {
    const denseModel = await loadLlama(o.checkpoint, o.backend !== undefined ? { backend: o.backend } : {});
    backendName = denseModel.backend.name;
    dense = await evaluate(denseModel, "dense");
  }
  hooks.onDense?.(dense);
  const several = cals.length > 1;
  const runLabel = (label: string, level: SweepLevel, seed: number | undefined): string =>
    `${label} @ ${levelLabel(level)}${several && seed !== undefined ? ` (seed ${seed})` : ""}`;
  const methods = o.methods.map(toSweepMethod);
  // Level 0 is the dense model (row "0"), measured once above; it is not pruned again.
  const runLevels = o.levels.filter((l) => l !== 0);
  const rows = await sweep({
    methods,
    levels: runLevels,
    prune: {
      checkpoint: o.checkpoint,
      ...(o.backend !== undefined ? { backend: o.backend } : {}),
      ...(o.allocation !== undefined ? { allocation: o.allocation } : {}),
      ...(o.preCheckpoint !== undefined ? { preCheckpoint: o.preCheckpoint } : {}),
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
    },
    calibrations: cals,
    pruneProgress: (run) => hooks.pruneProgress?.(runLabel(run.label, run.level, run.seed)),
    evaluate: async (model, run) => (await evaluate(model, runLabel(run.label, run.level, run.seed))).ppl,
    ...(o.streaming !== undefined
      ? {
          pruneAndEvaluate: async (
            options: PruneOptions,
            run: SweepRunInfo,
          ): Promise<{ report: PruneReport; value: number }> => {
            const label = runLabel(run.label, run.level, run.seed);
            const scratch = await o.streaming!.scratch(label);
            try {
              const { report } = await pruneToCheckpoint(scratch.dir, {
                ...options,
                checkpoint: o.checkpoint,
                backend: streamBackend!,
              });
              const ckpt = await scratch.open();
              try {
                return { report, value: (await streamed(ckpt, label)).ppl };
              } finally {
                await ckpt.close();
              }
            } finally {
              await scratch.remove();
            }
          },
        }
      : {}),
    onRow: (row) => {
      const level = runLevels.find((l) => levelLabel(l) === row.level)!;
      hooks.onRow?.(row, runLabel(row.label, level, row.seed));
    },
  });
  const seeds = cals.map((x) => x.seed);
  const protocol = [
    `model ${modelName} (${o.checkpoint.format}${o.modelChecksum !== undefined ? `, sha256 ${o.modelChecksum.slice(0, 16)}` : ""})`,
    ...(o.preCheckpoint !== undefined
      ? [`pre-trained W⁰ for movement: ${o.preName ?? o.preCheckpoint.source}`]
      : []),
    `evaluation: ${evaluationProtocol(dense)}`,
    `calibration: ${calProtocol}`,
    `allocation ${o.allocation?.kind ?? "uniform"}`,
    `backend ${backendName}`,
    ...(o.streaming !== undefined
      ? [
          "streamed: one decoder block resident, each pruned model written to a scratch folder and evaluated layer by layer",
        ]
      : []),
    "level 0 = the dense model",
    ...(several ? [spreadProtocol(seeds)] : []),
  ].join(" | ");
  const table = reportTableFromPoints(
    rows.map((r) => ({
      method: r.label,
      level: r.level,
      value: r.value,
      ...(r.seed !== undefined ? { seed: r.seed } : {}),
    })),
    {
      title: o.title,
      protocol,
      methods: methods.map((m) => m.label),
      levels: ["0", ...runLevels.map(levelLabel)],
      baseline: { level: "0", value: dense.ppl },
      aggregate: "sample-std",
    },
  );
  return {
    table,
    protocol,
    dense,
    rows,
    seeds,
    modelName,
    evaluationName: evalName,
    backend: backendName,
    wallTimeMs: clock() - t0,
  };
}
