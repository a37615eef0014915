// The page's job, runtime-neutral (it runs in the Web Worker; nothing here touches the DOM or Node):
// evaluate the dense model, prune it, evaluate the pruned model — with the same library calls and
// the same protocol as `mama-prune sweep` — then render the table and plot and write the pruned
// checkpoint (safetensors + config.json + tokenizer) into memory.
import type { ComputeBackend } from "@mama-prune/core";
import {
  cachingTokenizer,
  type PerplexityResult,
  perplexity,
  perplexityPlotSvg,
  type ReportTable,
  reportMarkdown,
  reportTableFromPoints,
} from "@mama-prune/eval";
import { loadLlama } from "@mama-prune/model";
import {
  calibrationWindows,
  levelLabel,
  METHOD_LABELS,
  type PruneReport,
  prune,
  prunedCheckpointEntries,
  pruneMetadata,
  splitCalibrationText,
} from "@mama-prune/pipeline";
import { memoryCheckpointDir, writeHfCheckpoint } from "@mama-prune/tensor-io";
import type { LoadedModel } from "./inputs.ts";

/** The methods the page offers. */
export const PAGE_METHODS = ["magnitude", "wanda", "sparsegpt", "mama"] as const;
export type PageMethod = (typeof PAGE_METHODS)[number];

/** Output layouts of the pruned checkpoint. */
export type PageFormat = "dense" | "sparse-bitmask" | "sparse-24-bitmask";

/** What the user chose on the page. */
export interface JobSettings {
  readonly method: PageMethod;
  /** Fraction of each block linear set to zero, or N zeros in every M consecutive inputs. */
  readonly sparsity: number | { readonly n: number; readonly m: number };
  /** Calibration windows × tokens, drawn with `seed` from the calibration split. */
  readonly nsamples: number;
  readonly calibrationSeqlen: number;
  readonly seed: number;
  /** Evaluation: the first `evalWindows` non-overlapping windows of `evalSeqlen` tokens. */
  readonly evalSeqlen: number;
  readonly evalWindows: number;
  /** Fraction of the text's paragraphs (the last ones) kept for calibration; the rest is evaluated. */
  readonly split: number;
  readonly format: PageFormat;
}

/** The defaults of the page (and of the browser test). */
export const DEFAULT_SETTINGS: JobSettings = {
  method: "wanda",
  sparsity: 0.5,
  nsamples: 8,
  calibrationSeqlen: 128,
  seed: 0,
  evalSeqlen: 128,
  evalWindows: 8,
  split: 0.15,
  format: "dense",
};

/** Progress of a run: which stage, and how far (block or window counts). */
export interface JobProgress {
  readonly stage: "load" | "tokenize" | "dense" | "calibrate" | "prune" | "pruned" | "write";
  readonly done: number;
  readonly total: number;
}

/** The numbers of one perplexity measurement that the page shows and the test compares. */
export interface PplSummary {
  readonly ppl: number;
  readonly meanNll: number;
  readonly windows: number;
  readonly windowsAvailable: number;
  readonly tokensScored: number;
  readonly seqlen: number;
  readonly datasetSha256: string;
  readonly protocol: string;
  readonly wallTimeMs: number;
}

/** Everything the page shows after a run. */
export interface JobResult {
  readonly backend: string;
  readonly dense: PplSummary;
  readonly pruned: PplSummary;
  readonly table: ReportTable;
  readonly markdown: string;
  readonly svg: string;
  readonly report: {
    readonly method: string;
    readonly scorer: string;
    readonly redistribution: string;
    readonly overallSparsity: number;
    readonly zeros: number;
    readonly total: number;
    readonly warnings: readonly string[];
    readonly calibration: string | null;
  };
  /**
   * Wall times (ms): model + text loading, tokenizing the evaluation and calibration texts (once;
   * both evaluations reuse the tokens), dense evaluation, prune (calibration forwards included),
   * pruned evaluation, writing the checkpoint.
   */
  readonly timings: {
    readonly load: number;
    readonly tokenize: number;
    readonly dense: number;
    readonly prune: number;
    readonly pruned: number;
    readonly write: number;
  };
  /** Tokens through the model's forward pass while pruning (calibration windows × tokens). */
  readonly calibrationTokens: number;
  /** The pruned checkpoint's files (name → bytes). */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

function summary(r: PerplexityResult): PplSummary {
  return {
    ppl: r.ppl,
    meanNll: r.meanNll,
    windows: r.windows,
    windowsAvailable: r.windowsAvailable,
    tokensScored: r.tokensScored,
    seqlen: r.seqlen,
    datasetSha256: r.dataset.sha256,
    protocol: r.protocol,
    wallTimeMs: r.wallTimeMs,
  };
}

function reportSummary(report: PruneReport): JobResult["report"] {
  return {
    method: report.method,
    scorer: report.scorer,
    redistribution: report.redistribution,
    overallSparsity: report.overallSparsity,
    zeros: report.zeros,
    total: report.total,
    warnings: report.warnings,
    calibration: report.calibration?.protocol ?? null,
  };
}

/**
 * Run the page's job: dense perplexity, prune, pruned perplexity, table, plot and checkpoint files.
 * The evaluation text is split like `mama-prune sweep` does when calibration and evaluation share a
 * file: the last `split` of the paragraphs for calibration, the rest for evaluation (always, so the
 * dense number does not change with the method).
 *
 * @throws PruneError every input error of the library (CALIBRATION_INVALID, SPARSITY_INVALID, …),
 *   and MASK_INVALID when a 2:4 layout is asked for a mask that is not 2:4.
 */
export async function runJob(
  model: LoadedModel,
  text: { readonly name: string; readonly text: string },
  settings: JobSettings,
  backend: ComputeBackend,
  onProgress: (p: JobProgress) => void = () => {},
  loadMs = 0,
): Promise<JobResult> {
  const { checkpoint } = model;
  const tokenizer = cachingTokenizer(model.tokenizer);
  const split = splitCalibrationText(text.text, { calibrationFraction: settings.split });
  const evalName = `${text.name} (evaluation split)`;
  const evalOptions = {
    seqlen: settings.evalSeqlen,
    maxWindows: settings.evalWindows,
    datasetName: evalName,
    backendName: backend.name,
    ...(model.checksum !== undefined ? { modelChecksum: model.checksum } : {}),
  };

  // ---- tokenize once: both evaluations and the calibration draw reuse the tokens ----
  onProgress({ stage: "tokenize", done: 0, total: 1 });
  let t0 = performance.now();
  tokenizer.encode(split.evaluation, { bos: false, eos: false });
  const needsCalibration = settings.method !== "magnitude";
  const calibrationStream = needsCalibration
    ? tokenizer.encode(split.calibration, { bos: false, eos: false })
    : undefined;
  const tokenizeMs = performance.now() - t0;
  onProgress({ stage: "tokenize", done: 1, total: 1 });

  // ---- dense ----
  t0 = performance.now();
  const dense = await perplexity(await loadLlama(checkpoint, { backend }), tokenizer, split.evaluation, {
    ...evalOptions,
    onProgress: (done, total) => onProgress({ stage: "dense", done, total }),
  });
  const denseMs = performance.now() - t0;

  // ---- calibration windows and prune ----
  onProgress({ stage: "calibrate", done: 0, total: 1 });
  const calibration =
    calibrationStream !== undefined
      ? calibrationWindows(calibrationStream, {
          nsamples: settings.nsamples,
          seqlen: settings.calibrationSeqlen,
          seed: settings.seed,
        })
      : undefined;
  onProgress({ stage: "calibrate", done: 1, total: 1 });
  t0 = performance.now();
  const { model: pruned, report } = await prune({
    checkpoint,
    backend,
    method: settings.method,
    sparsity: settings.sparsity,
    ...(calibration !== undefined ? { calibration } : {}),
    onProgress: (e) => {
      if (e.stage === "block") onProgress({ stage: "prune", done: e.done, total: e.total });
    },
  });
  const pruneMs = performance.now() - t0;

  // ---- pruned ----
  t0 = performance.now();
  const after = await perplexity(pruned, tokenizer, split.evaluation, {
    ...evalOptions,
    onProgress: (done, total) => onProgress({ stage: "pruned", done, total }),
  });
  const prunedMs = performance.now() - t0;

  // ---- table and plot, with the sweep's protocol line ----
  const level = levelLabel(settings.sparsity);
  const label = METHOD_LABELS[settings.method];
  const protocol = [
    `model ${model.name} (${checkpoint.format}${model.checksum !== undefined ? `, sha256 ${model.checksum.slice(0, 16)}` : ""})`,
    `evaluation: ${evalName} (sha256 ${dense.dataset.sha256.slice(0, 16)}), ${dense.windows} of ${dense.windowsAvailable} non-overlapping windows of seqlen ${dense.seqlen}, ${dense.tokensScored} tokens scored, ppl = exp(mean NLL)`,
    calibration !== undefined
      ? `calibration: ${calibration.protocol} from the calibration split (${split.protocol}), sequential`
      : "calibration: none (data-free methods)",
    "allocation uniform",
    `backend ${backend.name}`,
    "level 0 = the dense model",
  ].join(" | ");
  const table = reportTableFromPoints([{ method: label, level, value: after.ppl }], {
    title: `${model.name} pruned to ${level} (perplexity)`,
    protocol,
    methods: [label],
    levels: ["0", level],
    baseline: { level: "0", value: dense.ppl },
  });
  const svg = perplexityPlotSvg(table, {
    subtitle: `${model.name} on ${evalName}, seqlen ${dense.seqlen} × ${dense.windows} windows`,
  });

  // ---- the pruned checkpoint, in memory ----
  onProgress({ stage: "write", done: 0, total: 1 });
  t0 = performance.now();
  const dir = memoryCheckpointDir("pruned");
  await writeHfCheckpoint(dir, {
    config: {
      ...checkpoint.config,
      mama_prune: pruneMetadata(report, { source: model.name, calibration_text: text.name }),
    },
    tensors: prunedCheckpointEntries(pruned, checkpoint),
    format: settings.format,
    extraFiles: model.sideFiles,
  });
  const writeMs = performance.now() - t0;
  onProgress({ stage: "write", done: 1, total: 1 });

  return {
    backend: backend.name,
    dense: summary(dense),
    pruned: summary(after),
    table,
    markdown: reportMarkdown(table, { digits: 4 }),
    svg,
    report: reportSummary(report),
    timings: {
      load: loadMs,
      tokenize: tokenizeMs,
      dense: denseMs,
      prune: pruneMs,
      pruned: prunedMs,
      write: writeMs,
    },
    calibrationTokens: calibration !== undefined ? settings.nsamples * settings.calibrationSeqlen : 0,
    files: dir.files,
  };
}
