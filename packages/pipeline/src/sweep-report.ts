// ---- The report files of a measured sweep: Markdown, CSV, JSON and the SVG plot ----

import {
  perplexityPlotSvg,
  type ReportTable,
  reportCsv,
  reportJsonObject,
  reportMarkdown,
  reportTableFromPoints,
} from "@mama-prune/eval";
import type { SweepResult } from "./sweep-measure.ts";

/** Options of {@link sweepReportFiles}. */
export interface SweepReportOptions {
  /** Base name of the files: `<stem>.md`, `.csv`, `.json`, `.svg`. */
  readonly stem: string;
  /** Decimals of the Markdown cells (default 2). */
  readonly digits?: number;
  /** Markdown cells with |value| ≥ this are written in exponent form (default 1e6). */
  readonly expFrom?: number;
}

/** One report file: its name and text. */
export interface SweepReportFile {
  readonly name: string;
  readonly text: string;
}

/** One run as written in the JSON report. */
export interface SweepJsonRun {
  readonly method: string;
  readonly label: string;
  readonly level: string;
  /** Only in sweeps with several seeds, for methods that use calibration. */
  readonly seed?: number;
  readonly ppl: number;
  readonly overallSparsity: number;
  readonly pruneWallTimeMs: number;
}

/**
 * The runs of a sweep as written in its JSON report (the seed only when the sweep has several).
 *
 * @example
 * sweepJsonRuns(result)[0]; // { method: "wanda", label: "Wanda", level: "0.5", ppl: 16.97, … }
 */
export function sweepJsonRuns(r: SweepResult): SweepJsonRun[] {
  const several = r.seeds.length > 1;
  return r.rows.map((x) => ({
    method: x.method,
    label: x.label,
    level: x.level,
    ...(several && x.seed !== undefined ? { seed: x.seed } : {}),
    ppl: x.value,
    overallSparsity: x.overallSparsity,
    pruneWallTimeMs: x.pruneWallTimeMs,
  }));
}

/**
 * The four report files of a sweep: the paper-format table as Markdown (with the protocol line) and
 * CSV, JSON (the table, the dense perplexity, every run and the wall time) and the SVG plot (its
 * subtitle names the model, the evaluation text and the windows). Pure: the caller writes them.
 *
 * @throws RangeError for bad `digits` / `expFrom` (see `reportMarkdown`).
 * @example
 * for (const f of sweepReportFiles(result, { stem: "table2" })) await writeFile(join(dir, f.name), f.text);
 */
export function sweepReportFiles(r: SweepResult, options: SweepReportOptions): SweepReportFile[] {
  const { table, dense } = r;
  const json = {
    ...reportJsonObject(table),
    dense: dense.ppl,
    runs: sweepJsonRuns(r),
    wallTimeMs: Math.round(r.wallTimeMs),
  };
  return [
    {
      name: `${options.stem}.md`,
      text: reportMarkdown(table, {
        ...(options.digits !== undefined ? { digits: options.digits } : {}),
        ...(options.expFrom !== undefined ? { expFrom: options.expFrom } : {}),
      }),
    },
    { name: `${options.stem}.csv`, text: reportCsv(table) },
    { name: `${options.stem}.json`, text: `${JSON.stringify(json, null, 2)}\n` },
    {
      name: `${options.stem}.svg`,
      text: perplexityPlotSvg(table, {
        subtitle: `${r.modelName} on ${r.evaluationName}, seqlen ${dense.seqlen} × ${dense.windows} windows`,
      }),
    },
  ];
}

/**
 * The measured overall sparsity of the block linears of every run, as a table shaped like the sweep's
 * (its columns, its levels without the dense row "0"; the mean over seeds where there are several).
 * Row-wise groups prune floor(s·cols) per row, so Wanda and MAMA sit slightly below the nominal level;
 * the protocol line says so.
 *
 * @example
 * reportMarkdown(sweepSparsityTable(result.table, sweepJsonRuns(result)), { digits: 4 });
 */
export function sweepSparsityTable(
  table: ReportTable,
  runs: readonly Pick<SweepJsonRun, "label" | "level" | "overallSparsity">[],
): ReportTable {
  const t = reportTableFromPoints(
    runs.map((x) => ({ method: x.label, level: x.level, value: x.overallSparsity })),
    {
      title: "Measured overall sparsity of the block linears",
      protocol:
        "zeros / weights over all block linears of each pruned model; row-wise groups prune floor(s·cols) per row, so Wanda and MAMA sit slightly below the nominal level; magnitude, -weights and SparseGPT prune floor(s·n) per matrix or block",
      methods: table.columns,
      levels: table.levels.filter((l) => l !== "0"),
      aggregate: "sample-std",
    },
  );
  // The sparsity does not depend on the seed: the mean is the table, without a spread.
  const { spread: _spread, ...plain } = t;
  return plain;
}
