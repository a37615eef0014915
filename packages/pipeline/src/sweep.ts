// ---- Sweeps: prune at many levels with many methods (and calibration seeds) and evaluate each result ----

import { type Sparsity, sparsityLabel } from "@mama-prune/core";
import type { LlamaModel } from "@mama-prune/model";
import { METHOD_LABELS, type PruneMethod } from "./methods.ts";
import {
  type CalibrationInput,
  type PruneOptions,
  type PruneProgress,
  type PruneReport,
  prune,
} from "./prune.ts";

/** One sweep level: a fraction of zeros, or an N:M pattern (core's `Sparsity`). */
export type SweepLevel = Sparsity;

/**
 * The prune options of one sweep column: everything {@link prune} takes except what the sweep sets
 * for every run (checkpoint, backend, sparsity, calibration windows, allocation, pre-trained
 * checkpoint, signal, progress).
 */
export type SweepMethodOptions = Omit<
  PruneOptions,
  | "checkpoint"
  | "model"
  | "backend"
  | "sparsity"
  | "calibration"
  | "allocation"
  | "preCheckpoint"
  | "signal"
  | "onProgress"
>;

/** Where one run of a sweep sits: its column, level and calibration seed. */
export interface SweepRunInfo {
  /** The column label (the {@link SweepMethod.label}). */
  readonly label: string;
  readonly level: SweepLevel;
  /** The calibration seed; undefined for methods that do not use calibration, or sweeps without seeds. */
  readonly seed: number | undefined;
}

/**
 * One column of a sweep: a label and the method's prune options. `options` may be a factory called
 * for every run, so a method resolved elsewhere (a registry, a plugin) slots in as a function that
 * returns its {@link prune} options.
 */
export interface SweepMethod {
  /** Column label in tables and plots; unique within a sweep. */
  readonly label: string;
  readonly options: SweepMethodOptions | ((run: SweepRunInfo) => SweepMethodOptions);
  /**
   * Whether the method's result depends on the calibration windows (default true). A method that
   * does not (magnitude, -weights, movement without OWL) runs once per level, not once per seed.
   */
  readonly usesCalibration?: boolean;
  /** Use the sweep's pre-trained checkpoint (W⁰) for this column (default true when one is given). */
  readonly usePreCheckpoint?: boolean;
}

/**
 * A built-in method by name as a {@link SweepMethod} (label from {@link METHOD_LABELS}).
 *
 * @example
 * sweepMethod("wanda"); // { label: "Wanda", options: { method: "wanda" } }
 */
export function sweepMethod(
  name: PruneMethod,
  options: Omit<SweepMethodOptions, "method"> = {},
): SweepMethod {
  return { label: METHOD_LABELS[name], options: { ...options, method: name } };
}

/** The calibration windows of one seed. */
export interface SweepCalibration {
  readonly seed: number;
  readonly windows: CalibrationInput;
}

/** Options of {@link sweep}. */
export interface SweepOptions {
  /** Columns: built-in method names or {@link SweepMethod}s. */
  readonly methods: readonly (PruneMethod | SweepMethod)[];
  readonly levels: readonly SweepLevel[];
  /** Options shared by every run (a checkpoint is required: each run prunes a fresh copy of it). */
  readonly prune: Omit<PruneOptions, "method" | "sparsity" | "model" | "calibration" | "onProgress">;
  /**
   * Calibration windows, one entry per seed. Every method with `usesCalibration` (the default) runs
   * once per entry; the others run once per level with the first entry's windows.
   */
  readonly calibrations?: readonly SweepCalibration[];
  /** Score a pruned model (e.g. perplexity on the evaluation split). */
  evaluate(model: LlamaModel, run: SweepRunInfo): Promise<number>;
  /**
   * Prune and score one run another way (e.g. streamed: `pruneToCheckpoint` to a scratch folder, then
   * a streamed evaluation of it): given the run's full prune options, return its report and score.
   * When absent, each run is `prune` (the model resident) followed by {@link SweepOptions.evaluate}.
   */
  readonly pruneAndEvaluate?: (
    options: PruneOptions,
    run: SweepRunInfo,
  ) => Promise<{ readonly report: PruneReport; readonly value: number }>;
  /** A progress callback for one run's prune (e.g. a progress bar labelled after the run). */
  readonly pruneProgress?: (run: SweepRunInfo) => ((event: PruneProgress) => void) | undefined;
  /** Called after each run with the row just measured. */
  readonly onRow?: (row: SweepRow) => void;
}

/** One measured point of a {@link sweep}. */
export interface SweepRow {
  /** The method's name (a built-in's, a registered plugin's, or the definition's `name`). */
  readonly method: string;
  /** The column label. */
  readonly label: string;
  /** The level as written in tables: "0.5" or "2:4". */
  readonly level: string;
  /** The calibration seed (undefined: the method does not use calibration, or the sweep has no seeds). */
  readonly seed: number | undefined;
  readonly value: number;
  readonly overallSparsity: number;
  readonly pruneWallTimeMs: number;
  readonly report: PruneReport;
}

/**
 * Format a level for tables: numbers as given ("0.5"), N:M as "N:M".
 *
 * @example
 * levelLabel({ n: 2, m: 4 }); // "2:4"
 */
export function levelLabel(level: SweepLevel): string {
  return sparsityLabel(level);
}

/** A method name or column as a {@link SweepMethod}. */
export function toSweepMethod(m: PruneMethod | SweepMethod): SweepMethod {
  return typeof m === "string" ? sweepMethod(m) : m;
}

/**
 * Prune a fresh copy of the checkpoint for every (method, level, seed) with {@link prune} and
 * evaluate it. Methods run in the given order, then levels, then seeds; each run loads the checkpoint
 * again so no run sees another's weights.
 *
 * @throws PruneError everything {@link prune} throws.
 * @example
 * const rows = await sweep({ methods: ["magnitude"], levels: [0.5], prune: { checkpoint }, evaluate: async () => 0 });
 */
export async function sweep(options: SweepOptions): Promise<SweepRow[]> {
  const rows: SweepRow[] = [];
  const cals: readonly (SweepCalibration | undefined)[] =
    options.calibrations !== undefined && options.calibrations.length > 0
      ? options.calibrations
      : [undefined];
  for (const m of options.methods) {
    const spec = toSweepMethod(m);
    const seeded = spec.usesCalibration ?? true;
    for (const level of options.levels) {
      for (const cal of seeded ? cals : cals.slice(0, 1)) {
        const run: SweepRunInfo = { label: spec.label, level, seed: seeded ? cal?.seed : undefined };
        const methodOptions = typeof spec.options === "function" ? spec.options(run) : spec.options;
        const { preCheckpoint, ...shared } = options.prune;
        const onProgress = options.pruneProgress?.(run);
        const pruneOptions: PruneOptions = {
          ...shared,
          ...(preCheckpoint !== undefined && spec.usePreCheckpoint !== false ? { preCheckpoint } : {}),
          ...methodOptions,
          ...(cal !== undefined ? { calibration: cal.windows } : {}),
          ...(onProgress !== undefined ? { onProgress } : {}),
          sparsity: level,
        };
        let report: PruneReport;
        let value: number;
        if (options.pruneAndEvaluate !== undefined) {
          ({ report, value } = await options.pruneAndEvaluate(pruneOptions, run));
        } else {
          const pruned = await prune(pruneOptions);
          report = pruned.report;
          value = await options.evaluate(pruned.model, run);
        }
        const row: SweepRow = {
          method: typeof methodOptions.method === "string" ? methodOptions.method : methodOptions.method.name,
          label: spec.label,
          level: levelLabel(level),
          seed: run.seed,
          value,
          overallSparsity: report.overallSparsity,
          pruneWallTimeMs: report.wallTimeMs,
          report,
        };
        rows.push(row);
        options.onRow?.(row);
      }
    }
  }
  return rows;
}
