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
  /** (levels.length, columns.length) cells; NaN = not measured. */
  readonly values: readonly (readonly number[])[];
}

/** One measured point, e.g. a pipeline `SweepRow` (only these fields are read). */
export interface ReportPoint {
  /** Column label (method). */
  readonly method: string;
  /** Row label (level). */
  readonly level: string;
  readonly value: number;
}

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
}

/**
 * Build a {@link ReportTable} from measured points (e.g. the rows of a pipeline sweep). A
 * (method, level) that was measured twice keeps the last value; one never measured is NaN.
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
  const cell = new Map<string, number>();
  for (const p of points) {
    if (typeof p?.method !== "string" || typeof p.level !== "string" || typeof p.value !== "number") {
      throw new TypeError(
        "reportTableFromPoints: every point must be { method: string, level: string, value: number }",
      );
    }
    if (!seenMethods.includes(p.method)) seenMethods.push(p.method);
    if (!seenLevels.includes(p.level)) seenLevels.push(p.level);
    cell.set(`${p.method}\u0000${p.level}`, p.value);
  }
  const methods = options.methods ?? seenMethods;
  const levels = options.levels ?? seenLevels;
  const values = levels.map((level) =>
    methods.map((m) => {
      const v = cell.get(`${m}\u0000${level}`);
      if (v !== undefined) return v;
      if (options.baseline !== undefined && options.baseline.level === level) return options.baseline.value;
      return Number.NaN;
    }),
  );
  return {
    title: options.title,
    protocol: options.protocol,
    ...(options.levelHeader !== undefined ? { levelHeader: options.levelHeader } : {}),
    ...(options.metric !== undefined ? { metric: options.metric } : {}),
    levels: [...levels],
    columns: methods.map((m) => options.labels?.[m] ?? m),
    values,
  };
}

/** Options of {@link reportMarkdown}. */
export interface ReportMarkdownOptions {
  /** Decimals of each cell. Default 2 (the paper's precision). */
  readonly digits?: number;
  /** Markdown heading level of the title (1–6). Default 2. */
  readonly headingLevel?: number;
}

function formatCell(v: number, digits: number): string {
  if (Number.isNaN(v)) return "–";
  if (v === Number.POSITIVE_INFINITY) return "∞";
  if (!Number.isFinite(v)) return String(v);
  // Huge perplexities (collapsed models) in exponent form keep the column narrow.
  if (Math.abs(v) >= 1e6) return v.toExponential(digits);
  return v.toFixed(digits);
}

function escapeMarkdownCell(s: string): string {
  return s.replaceAll("|", "\\|").replaceAll(/\r?\n/g, " ");
}

/**
 * Render a table as GitHub-flavoured Markdown: a heading, the protocol line, then level rows ×
 * method columns (right-aligned numbers, `–` for cells not measured, `∞` for an infinite value).
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
        `| ${escapeMarkdownCell(level)} | ${(table.values[r] ?? []).map((v) => formatCell(v, digits)).join(" | ")} |`,
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
 * not measured. By default the title and protocol come first as `#` comment lines.
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
  lines.push([table.levelHeader ?? "Pruning level", ...table.columns].map(csvField).join(","));
  table.levels.forEach((level, r) => {
    const cells = (table.values[r] ?? []).map((v) => (Number.isNaN(v) ? "" : String(v)));
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
  /** One entry per level; `values[c]` is null for a cell not measured or not finite. */
  readonly rows: readonly { readonly level: string; readonly values: readonly (number | null)[] }[];
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
    rows: table.levels.map((level, r) => ({
      level,
      values: (table.values[r] ?? []).map((v) => (Number.isFinite(v) ? v : null)),
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
