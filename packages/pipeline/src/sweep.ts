// ---- Sweeps: prune at many levels with many methods and evaluate each result ----

import { type Sparsity, sparsityLabel } from "@mama-prune/core";
import type { LlamaModel } from "@mama-prune/model";
import type { PruneMethod } from "./methods.ts";
import { type PruneOptions, type PruneReport, prune } from "./prune.ts";

/** One sweep level: a fraction of zeros, or an N:M pattern (core's `Sparsity`). */
export type SweepLevel = Sparsity;

/**
 * Options of {@link sweep}. `M`: the method names (built-ins by default; any name registered in
 * `prune.registry` with plugin methods).
 */
export interface SweepOptions<M extends string = PruneMethod> {
  readonly methods: readonly M[];
  readonly levels: readonly SweepLevel[];
  /** Everything {@link prune} takes except method, sparsity and model (a checkpoint is required). */
  readonly prune: Omit<PruneOptions, "method" | "sparsity" | "model">;
  /** Per-method extra prune options (e.g. a preCheckpoint or mama options for one method only). */
  readonly perMethod?: Partial<Record<M, Partial<Omit<PruneOptions, "method" | "sparsity" | "model">>>>;
  /** Score a pruned model (e.g. perplexity on the evaluation split). */
  evaluate(model: LlamaModel, method: M, level: SweepLevel): Promise<number>;
  /** Called after each (method, level) with the row just measured. */
  readonly onRow?: (row: SweepRow<M>) => void;
}

/** One measured point of a {@link sweep}. */
export interface SweepRow<M extends string = PruneMethod> {
  readonly method: M;
  /** The level as written in tables: "0.5" or "2:4". */
  readonly level: string;
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

/**
 * Prune a fresh copy of the checkpoint for every (method, level) with {@link prune} and evaluate it.
 * Methods run in the given order, levels in the given order; each run loads the checkpoint again so
 * no run sees another's weights.
 *
 * @throws PruneError everything {@link prune} throws.
 * @example
 * const rows = await sweep({ methods: ["magnitude"], levels: [0.5], prune: { checkpoint }, evaluate: async () => 0 });
 */
export async function sweep<M extends string = PruneMethod>(
  options: SweepOptions<M>,
): Promise<SweepRow<M>[]> {
  const rows: SweepRow<M>[] = [];
  for (const method of options.methods) {
    for (const level of options.levels) {
      const { model, report } = await prune({
        ...options.prune,
        ...(options.perMethod?.[method] ?? {}),
        method,
        sparsity: level,
      });
      const value = await options.evaluate(model, method, level);
      const row: SweepRow<M> = {
        method,
        level: levelLabel(level),
        value,
        overallSparsity: report.overallSparsity,
        pruneWallTimeMs: report.wallTimeMs,
        report,
      };
      rows.push(row);
      options.onRow?.(row);
    }
  }
  return rows;
}
