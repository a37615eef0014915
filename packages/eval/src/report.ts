// ---- Paper-format result tables: level rows × method columns, with the protocol line ----

/**
 * A result table in the paper's format: one row per pruning level, one column per method, and
 * the protocol that produced every number. `values[r][c]` is the metric (usually perplexity) of
 * method `columns[c]` at level `levels[r]`; `NaN` marks a cell that was not measured.
 */
export interface ReportTable {
  /** e.g. "Table 2: Perplexity of the pruned model". */
  readonly title: string;
  /** One line stating the whole protocol (evaluation, calibration, model). */
  readonly protocol: string;
  /** Header of the level column. Default in the renderers: "Pruning level". */
  readonly levelHeader?: string;
  /** Name of the metric in the cells, e.g. "perplexity". Default "perplexity". */
  readonly metric?: string;
  /** Row labels: "0", "0.5", "2:4", … */
  readonly levels: readonly string[];
  /** Column labels (methods). */
  readonly columns: readonly string[];
  /** (levels.length, columns.length) cells; NaN = not measured. With {@link spread}: the means. */
  readonly values: readonly (readonly number[])[];
  /**
   * (levels.length, columns.length) spread of each cell over repeated measurements (e.g. calibration
   * seeds); NaN = a single measurement. Absent: every cell is one measurement (the renderers then
   * write exactly the plain table). Its definition belongs in the protocol line.
   */
  readonly spread?: readonly (readonly number[])[];
  /** Short name of the spread in CSV headers and JSON, e.g. "sd". Default "sd". */
  readonly spreadName?: string;
}

/** One measured point, e.g. a pipeline `SweepRow` (only these fields are read). */
export interface ReportPoint {
  /** Column label (method). */
  readonly method: string;
  /** Row label (level). */
  readonly level: string;
  readonly value: number;
  /** The calibration seed of a repeated measurement (informative; cells aggregate by method and level). */
  readonly seed?: number;
}

/**
 * How {@link reportTableFromPoints} combines several points of one cell: `"last"` keeps the last value;
 * `"sample-std"` writes their arithmetic mean as the value and their sample standard deviation
 * (divisor n − 1) as the spread (cells with one point get no spread).
 */
export type ReportAggregate = "last" | "sample-std";

/** Options of {@link reportTableFromPoints}. */
export interface ReportTableFromPointsOptions {
  readonly title: string;
  readonly protocol: string;
  /** Column order (default: order of first appearance in `points`). */
  readonly methods?: readonly string[];
  /** Row order (default: order of first appearance in `points`, after `baseline`'s level). */
  readonly levels?: readonly string[];
  /** Display label of each method (default: the method name itself). */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * A value shared by every method at one level, typically the dense model at level "0": every
   * column gets it, as in the paper's first row.
   */
  readonly baseline?: { readonly level: string; readonly value: number };
  readonly levelHeader?: string;
  readonly metric?: string;
  /** Default `"last"`. With `"sample-std"`, the table gets `spread` when some cell has two or more points. */
  readonly aggregate?: ReportAggregate;
}

/** Arithmetic mean and sample standard deviation (divisor n − 1; NaN for n < 2) of `xs`. */
function meanAndSampleStd(xs: readonly number[]): { mean: number; sd: number } {
  const n = xs.length;
  let sum = 0;
  for (const x of xs) sum += x;
  const mean = sum / n;
  if (n < 2) return { mean, sd: Number.NaN };
  let ss = 0;
  for (const x of xs) ss += (x - mean) * (x - mean);
  return { mean, sd: Math.sqrt(ss / (n - 1)) };
}

function validateTable(t: ReportTable, where: string): void {
  if (!Array.isArray(t.levels) || !Array.isArray(t.columns) || !Array.isArray(t.values)) {
    throw new TypeError(`${where}: table.levels, table.columns and table.values must be arrays`);
  }
  if (t.values.length !== t.levels.length) {
    throw new RangeError(
      `${where}: table.values has ${t.values.length} rows. Expected one per level (${t.levels.length}).`,
    );
  }
  t.values.forEach((row, r) => {
    if (row.length !== t.columns.length) {
      throw new RangeError(
        `${where}: table.values[${r}] has ${row.length} cells. Expected one per column (${t.columns.length}).`,
      );
    }
  });
  if (t.spread !== undefined) {
    if (!Array.isArray(t.spread) || t.spread.length !== t.levels.length) {
      throw new RangeError(
        `${where}: table.spread has ${Array.isArray(t.spread) ? t.spread.length : "no"} rows. Expected one per level (${t.levels.length}).`,
      );
    }
    t.spread.forEach((row, r) => {
      if (row.length !== t.columns.length) {
        throw new RangeError(
          `${where}: table.spread[${r}] has ${row.length} cells. Expected one per column (${t.columns.length}).`,
        );
      }
    });
  }
}

/**
 * Build a {@link ReportTable} from measured points (e.g. the rows of a pipeline sweep). A
 * (method, level) that was measured twice keeps the last value, or with `aggregate: "sample-std"`
 * gets the mean and sample standard deviation of its values; one never measured is NaN.
 *
 * @throws TypeError when a point is not `{ method: string, level: string, value: number }`.
 * @example
 * const t = reportTableFromPoints(
 *   [{ method: "wanda", level: "0.5", value: 7.1 }],
 *   { title: "Table 2", protocol: "…", baseline: { level: "0", value: 5 } },
 * );
 * t.values; // [[5], [7.1]]
 */
export function reportTableFromPoints(
  points: readonly ReportPoint[],
  options: ReportTableFromPointsOptions,
): ReportTable {
  const seenMethods: string[] = [];
  const seenLevels: string[] = options.baseline !== undefined ? [options.baseline.level] : [];
  const cell = new Map<string, number[]>();
  const aggregate = options.aggregate ?? "last";
  if (aggregate !== "last" && aggregate !== "sample-std") {
    throw new RangeError(
      `reportTableFromPoints: option aggregate must be "last" or "sample-std", got ${JSON.stringify(aggregate)}`,
    );
  }
  for (const p of points) {
    if (typeof p?.method !== "string" || typeof p.level !== "string" || typeof p.value !== "number") {
      throw new TypeError(
        "reportTableFromPoints: every point must be { method: string, level: string, value: number }",
      );
    }
    if (!seenMethods.includes(p.method)) seenMethods.push(p.method);
    if (!seenLevels.includes(p.level)) seenLevels.push(p.level);
    const key = `${p.method}\u0000${p.level}`;
    const vs = cell.get(key);
    if (vs === undefined || aggregate === "last") cell.set(key, [p.value]);
    else vs.push(p.value);
  }
  const methods = options.methods ?? seenMethods;
  const levels = options.levels ?? seenLevels;
  let repeated = false;
  const stats = levels.map((level) =>
    methods.map((m) => {
      const vs = cell.get(`${m}\u0000${level}`);
      if (vs !== undefined) {
        if (vs.length > 1) repeated = true;
        return meanAndSampleStd(vs);
      }
      if (options.baseline !== undefined && options.baseline.level === level) {
        return { mean: options.baseline.value, sd: Number.NaN };
      }
      return { mean: Number.NaN, sd: Number.NaN };
    }),
  );
  const values = stats.map((row) => row.map((c) => c.mean));
  return {
    title: options.title,
    protocol: options.protocol,
    ...(options.levelHeader !== undefined ? { levelHeader: options.levelHeader } : {}),
    ...(options.metric !== undefined ? { metric: options.metric } : {}),
    levels: [...levels],
    columns: methods.map((m) => options.labels?.[m] ?? m),
    values,
    ...(repeated ? { spread: stats.map((row) => row.map((c) => c.sd)) } : {}),
  };
}

/** Options of {@link reportMarkdown}. */
export interface ReportMarkdownOptions {
  /** Decimals of each cell. Default 2 (the paper's precision). */
  readonly digits?: number;
  /** Markdown heading level of the title (1–6). Default 2. */
  readonly headingLevel?: number;
  /**
   * Cells with |value| ≥ this are written in exponent form (`2.04e+8`), which keeps the column narrow
   * for collapsed models. Default 1e6; `Infinity` writes every finite value in fixed form.
   */
  readonly expFrom?: number;
}

function formatCell(v: number, digits: number, expFrom: number): string {
  if (Number.isNaN(v)) return "–";
  if (v === Number.POSITIVE_INFINITY) return "∞";
  if (!Number.isFinite(v)) return String(v);
  // Huge perplexities (collapsed models) in exponent form keep the column narrow.
  if (Math.abs(v) >= expFrom) return v.toExponential(digits);
  return v.toFixed(digits);
}

/** A cell with its spread: "12.31 ± 0.42" (the spread in the same form), or the plain cell. */
function formatCellWithSpread(v: number, sd: number | undefined, digits: number, expFrom: number): string {
  const cell = formatCell(v, digits, expFrom);
  if (sd === undefined || !Number.isFinite(sd) || !Number.isFinite(v)) return cell;
  return `${cell} ± ${formatCell(sd, digits, expFrom)}`;
}

function escapeMarkdownCell(s: string): string {
  return s.replaceAll("|", "\\|").replaceAll(/\r?\n/g, " ");
}

/**
 * Render a table as GitHub-flavoured Markdown: a heading, the protocol line, then level rows ×
 * method columns (right-aligned numbers, `–` for cells not measured, `∞` for an infinite value).
 * A table with `spread` writes each repeated cell as "mean ± spread".
 *
 * @throws RangeError when `values` does not have one row per level and one cell per column, or
 *   `digits` is not an integer in [0, 20].
 * @example
 * reportMarkdown({ title: "T", protocol: "p", levels: ["0"], columns: ["Wanda"], values: [[5.123]] });
 * // "## T\n\nProtocol: p\n\n| Pruning level | Wanda |\n|---|---:|\n| 0 | 5.12 |\n"
 */
export function reportMarkdown(table: ReportTable, options: ReportMarkdownOptions = {}): string {
  validateTable(table, "reportMarkdown");
  const digits = options.digits ?? 2;
  if (!Number.isInteger(digits) || digits < 0 || digits > 20) {
    throw new RangeError(`reportMarkdown: option digits must be an integer in [0, 20], got ${digits}`);
  }
  const h = options.headingLevel ?? 2;
  if (!Number.isInteger(h) || h < 1 || h > 6) {
    throw new RangeError(`reportMarkdown: option headingLevel must be an integer in [1, 6], got ${h}`);
  }
  const expFrom = options.expFrom ?? 1e6;
  if (!(expFrom > 0)) {
    throw new RangeError(`reportMarkdown: option expFrom must be a positive number, got ${expFrom}`);
  }
  const header = [table.levelHeader ?? "Pruning level", ...table.columns].map(escapeMarkdownCell);
  const lines = [
    `${"#".repeat(h)} ${escapeMarkdownCell(table.title)}`,
    "",
    `Protocol: ${table.protocol.replaceAll(/\r?\n/g, " ")}`,
    "",
    `| ${header.join(" | ")} |`,
    `|---|${table.columns.map(() => "---:").join("|")}|`,
    ...table.levels.map(
      (level, r) =>
        `| ${escapeMarkdownCell(level)} | ${(table.values[r] ?? []).map((v, c) => formatCellWithSpread(v, table.spread?.[r]?.[c], digits, expFrom)).join(" | ")} |`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Options of {@link reportCsv}. */
export interface ReportCsvOptions {
  /**
   * Write the title and protocol as leading `#` comment lines (read them back with e.g. pandas
   * `read_csv(comment="#")`). Default true; false gives a plain RFC 4180 table.
   */
  readonly comments?: boolean;
}

/**
 * Render a table as CSV (RFC 4180 quoting, `\n` line ends): a header `<level header>,<methods…>`,
 * then one line per level with full-precision numbers (shortest round-trip form), empty for a cell
 * not measured. A table with `spread` gets a `<method> <spreadName>` column after each method
 * column (empty where a cell has one measurement). By default the title and protocol come first
 * as `#` comment lines.
 *
 * @throws RangeError when `values` does not have one row per level and one cell per column.
 * @example
 * reportCsv({ title: "T", protocol: "p", levels: ["0.5"], columns: ["Wanda"], values: [[7.25]] }, { comments: false });
 * // "Pruning level,Wanda\n0.5,7.25\n"
 */
export function reportCsv(table: ReportTable, options: ReportCsvOptions = {}): string {
  validateTable(table, "reportCsv");
  const lines: string[] = [];
  if (options.comments ?? true) {
    lines.push(`# ${table.title.replaceAll(/\r?\n/g, " ")}`);
    lines.push(`# protocol: ${table.protocol.replaceAll(/\r?\n/g, " ")}`);
  }
  const num = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? "" : String(v));
  const spread = table.spread;
  const sn = table.spreadName ?? "sd";
  const header = spread === undefined ? table.columns : table.columns.flatMap((c) => [c, `${c} ${sn}`]);
  lines.push([table.levelHeader ?? "Pruning level", ...header].map(csvField).join(","));
  table.levels.forEach((level, r) => {
    const row = table.values[r] ?? [];
    const cells = spread === undefined ? row.map(num) : row.flatMap((v, c) => [num(v), num(spread[r]?.[c])]);
    lines.push([csvField(level), ...cells].join(","));
  });
  return `${lines.join("\n")}\n`;
}

/** The JSON form of a table written by {@link reportJson}. */
export interface ReportJson {
  readonly title: string;
  readonly protocol: string;
  readonly metric: string;
  readonly levelHeader: string;
  readonly columns: readonly string[];
  /** Name of the spread (only for a table with spread). */
  readonly spreadName?: string;
  /**
   * One entry per level; `values[c]` is null for a cell not measured or not finite; `spread[c]` (only
   * for a table with spread) is null for a cell with one measurement.
   */
  readonly rows: readonly {
    readonly level: string;
    readonly values: readonly (number | null)[];
    readonly spread?: readonly (number | null)[];
  }[];
}

/**
 * The table as a plain JSON-safe object (non-finite and missing cells become `null`, since JSON
 * has no NaN or Infinity).
 *
 * @throws RangeError when `values` does not have one row per level and one cell per column.
 * @example
 * reportJsonObject({ title: "T", protocol: "p", levels: ["0"], columns: ["A"], values: [[NaN]] }).rows;
 * // [{ level: "0", values: [null] }]
 */
export function reportJsonObject(table: ReportTable): ReportJson {
  validateTable(table, "reportJson");
  return {
    title: table.title,
    protocol: table.protocol,
    metric: table.metric ?? "perplexity",
    levelHeader: table.levelHeader ?? "Pruning level",
    columns: [...table.columns],
    ...(table.spread !== undefined ? { spreadName: table.spreadName ?? "sd" } : {}),
    rows: table.levels.map((level, r) => ({
      level,
      values: (table.values[r] ?? []).map((v) => (Number.isFinite(v) ? v : null)),
      ...(table.spread !== undefined
        ? { spread: (table.spread[r] ?? []).map((v) => (Number.isFinite(v) ? v : null)) }
        : {}),
    })),
  };
}

/**
 * The table as pretty-printed JSON text ({@link reportJsonObject}, two-space indent, final newline).
 *
 * @throws RangeError when `values` does not have one row per level and one cell per column.
 * @example
 * JSON.parse(reportJson(table)).columns; // ["Wanda", "SparseGPT", …]
 */
export function reportJson(table: ReportTable): string {
  return `${JSON.stringify(reportJsonObject(table), null, 2)}\n`;
}
