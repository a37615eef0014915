// ---- SVG line plot: perplexity (log scale) against pruning level, one line per method ----
//
// Hand-written SVG rather than a charting library: the plot is one chart type, the SVG is a few
// dozen elements, and no maintained library renders SVG in Node without a DOM (jsdom) or a
// browser. The output is deterministic text, so it can be diffed and snapshot-tested.

import type { ReportTable } from "./report.ts";

/** Options of {@link perplexityPlotSvg}. */
export interface PerplexityPlotOptions {
  /** Width and height in px. Default 760 × 460. */
  readonly width?: number;
  readonly height?: number;
  /** Title. Default: the table's title. */
  readonly title?: string;
  /** Small line under the title. Default none (the protocol goes into the SVG `<desc>`). */
  readonly subtitle?: string;
  /** Default "Pruning level (fraction of weights set to zero)". */
  readonly xLabel?: string;
  /** Default "Perplexity (log scale, lower is better)". */
  readonly yLabel?: string;
}

/** Okabe–Ito colour-blind-safe palette (black last: used for the 8th series). */
const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"];
const MARKERS = ["circle", "square", "triangle", "diamond", "triangle-down", "cross", "circle", "square"];

function esc(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/** Coordinates with one decimal, without trailing zeros, so the SVG stays small and stable. */
function n(v: number): string {
  const r = Math.round(v * 10) / 10;
  return Object.is(r, -0) ? "0" : String(r);
}

/**
 * Tick label of the log axis: up to 3 significant digits, exponent form outside [0.001, expFrom)
 * (`expFrom` default 1e5; the plot lowers it to 1e4 when an axis reaches 1e5, so "10000" and "1e5"
 * never sit on the same axis).
 *
 * @example
 * formatTick(200); // "200"
 * formatTick(1e6); // "1e6"
 * formatTick(1e4, 1e4); // "1e4"
 */
export function formatTick(v: number, expFrom = 1e5): string {
  if (v >= expFrom || v < 1e-3) {
    const e = Math.floor(Math.log10(v) + 1e-9);
    const m = Number((v / 10 ** e).toPrecision(3));
    return m === 1 ? `1e${e}` : `${m}e${e}`;
  }
  return String(Number(v.toPrecision(3)));
}

/**
 * Tick values of a log10 axis over [lo, hi] (lo > 0): whole decades when the range spans more
 * than 4 of them (every k-th decade above 10), 1-2-5 per decade from 1.2 to 4 decades, 1…9 per
 * decade below.
 *
 * @throws RangeError when lo ≤ 0 or hi < lo.
 * @example
 * logTicks(3, 2000); // [5, 10, 20, 50, 100, 200, 500, 1000, 2000]
 */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0) || !(hi >= lo) || !Number.isFinite(hi)) {
    throw new RangeError(`logTicks: expected 0 < lo <= hi < Infinity, got lo=${lo}, hi=${hi}`);
  }
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  const span = b - a;
  let mults: number[];
  let step = 1;
  if (span > 4) {
    mults = [1];
    step = Math.max(1, Math.ceil(span / 10));
  } else if (span > 1.2) mults = [1, 2, 5];
  else mults = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const out: number[] = [];
  const eps = 1e-9;
  for (let d = Math.floor(a); d <= Math.ceil(b); d++) {
    if (step > 1 && d % step !== 0) continue;
    for (const m of mults) {
      const v = Number((m * 10 ** d).toPrecision(12));
      const lv = Math.log10(v);
      if (lv >= a - eps && lv <= b + eps) out.push(v);
    }
  }
  return out;
}

/** "2:4"-style labels are N:M levels; they are plotted as separate points. */
function isNmLabel(level: string): boolean {
  return /^\s*\d+\s*:\s*\d+\s*$/.test(level);
}

function marker(kind: string, x: number, y: number, color: string): string {
  const r = 4;
  switch (kind) {
    case "square":
      return `<rect x="${n(x - r)}" y="${n(y - r)}" width="${2 * r}" height="${2 * r}" fill="${color}"/>`;
    case "triangle":
      return `<path d="M${n(x)} ${n(y - r - 1)}L${n(x + r + 1)} ${n(y + r)}L${n(x - r - 1)} ${n(y + r)}Z" fill="${color}"/>`;
    case "triangle-down":
      return `<path d="M${n(x)} ${n(y + r + 1)}L${n(x + r + 1)} ${n(y - r)}L${n(x - r - 1)} ${n(y - r)}Z" fill="${color}"/>`;
    case "diamond":
      return `<path d="M${n(x)} ${n(y - r - 1)}L${n(x + r + 1)} ${n(y)}L${n(x)} ${n(y + r + 1)}L${n(x - r - 1)} ${n(y)}Z" fill="${color}"/>`;
    case "cross":
      return `<path d="M${n(x - r)} ${n(y - r)}L${n(x + r)} ${n(y + r)}M${n(x - r)} ${n(y + r)}L${n(x + r)} ${n(y - r)}" stroke="${color}" stroke-width="2"/>`;
    default:
      return `<circle cx="${n(x)}" cy="${n(y)}" r="${r}" fill="${color}"/>`;
  }
}

/**
 * Draw a {@link ReportTable} as an SVG line plot: levels on the x axis (one evenly spaced
 * category per level, in table order, because the paper's levels crowd near 1), the metric on a
 * log10 y axis with labelled ticks and grid lines, one line per column with its own colour
 * (colour-blind-safe palette) and marker shape, a legend, axis labels and the title. Cells that
 * are NaN, infinite or ≤ 0 cannot sit on a log axis: the line breaks there and a note under the
 * plot says how many points were left out. N:M levels ("2:4") are drawn as unconnected points
 * after a dashed separator. The protocol goes into the SVG `<desc>`. A table with `spread` gets an
 * error bar at every point with a finite spread, from mean − spread to mean + spread (a lower end
 * at or below 0, which a log axis cannot show, runs to the bottom of the plot without a cap), and a
 * note "error bars: ± <spreadName>".
 *
 * @throws RangeError when `values` does not have one row per level and one cell per column, or
 *   width/height are below 200 px.
 * @example
 * const svg = perplexityPlotSvg({ title: "Table 2", protocol: "…", levels: ["0", "0.5"],
 *   columns: ["Wanda"], values: [[5.1], [7.3]] });
 * svg.startsWith("<svg"); // true
 */
export function perplexityPlotSvg(table: ReportTable, options: PerplexityPlotOptions = {}): string {
  const W = options.width ?? 760;
  const H = options.height ?? 460;
  if (!(W >= 200) || !(H >= 200)) {
    throw new RangeError(`perplexityPlotSvg: width and height must be at least 200 px, got ${W} × ${H}`);
  }
  if (table.values.length !== table.levels.length) {
    throw new RangeError(
      `perplexityPlotSvg: table.values has ${table.values.length} rows. Expected one per level (${table.levels.length}).`,
    );
  }
  for (const [r, row] of table.values.entries()) {
    if (row.length !== table.columns.length) {
      throw new RangeError(
        `perplexityPlotSvg: table.values[${r}] has ${row.length} cells. Expected one per column (${table.columns.length}).`,
      );
    }
    const sr = table.spread?.[r];
    if (table.spread !== undefined && sr?.length !== table.columns.length) {
      throw new RangeError(
        `perplexityPlotSvg: table.spread[${r}] has ${sr?.length ?? 0} cells. Expected one per column (${table.columns.length}).`,
      );
    }
  }
  if (table.spread !== undefined && table.spread.length !== table.levels.length) {
    throw new RangeError(
      `perplexityPlotSvg: table.spread has ${table.spread.length} rows. Expected one per level (${table.levels.length}).`,
    );
  }
  /** The finite spread of a cell whose value can be drawn, else undefined. */
  const spreadAt = (r: number, c: number): number | undefined => {
    const s = table.spread?.[r]?.[c];
    const v = table.values[r]?.[c];
    return s !== undefined && Number.isFinite(s) && s > 0 && v !== undefined && Number.isFinite(v) && v > 0
      ? s
      : undefined;
  };
  const title = options.title ?? table.title;
  const subtitle = options.subtitle;
  const xLabel = options.xLabel ?? "Pruning level (fraction of weights set to zero)";
  const yLabel = options.yLabel ?? "Perplexity (log scale, lower is better)";

  const longest = table.columns.reduce((m, c) => Math.max(m, c.length), 0);
  const legendWidth = Math.min(220, 44 + 7 * longest);
  const left = 72;
  const right = W - legendWidth - 16;
  const top = subtitle === undefined ? 48 : 64;
  const bottom = H - 64;
  const pw = right - left;
  const ph = bottom - top;

  // ---- y domain (log10) ----
  const ok = (v: number): boolean => Number.isFinite(v) && v > 0;
  let lo = Number.POSITIVE_INFINITY;
  let hi = 0;
  let dropped = 0;
  for (const [r, row] of table.values.entries()) {
    for (const [c, v] of row.entries()) {
      if (ok(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
        const s = spreadAt(r, c);
        if (s !== undefined) {
          hi = Math.max(hi, v + s);
          if (v - s > 0) lo = Math.min(lo, v - s);
        }
      } else dropped++;
    }
  }
  if (!Number.isFinite(lo)) {
    lo = 1;
    hi = 10;
  }
  let a = Math.log10(lo);
  let b = Math.log10(hi);
  if (b - a < 0.3) {
    const mid = (a + b) / 2;
    a = mid - 0.15;
    b = mid + 0.15;
  }
  const pad = 0.04 * (b - a);
  a -= pad;
  b += pad;
  const yOf = (v: number): number => bottom - ((Math.log10(v) - a) / (b - a)) * ph;
  const L = table.levels.length;
  const xOf = (i: number): number => left + (pw * (i + 0.5)) / Math.max(1, L);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<title>${esc(title)}</title>`);
  out.push(`<desc>${esc(table.protocol)}</desc>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(
    `<text class="title" x="${n(left)}" y="24" font-size="16" font-weight="bold" fill="#111111">${esc(title)}</text>`,
  );
  if (subtitle !== undefined) {
    const s = subtitle.length > 120 ? `${subtitle.slice(0, 119)}…` : subtitle;
    out.push(`<text class="subtitle" x="${n(left)}" y="44" font-size="11" fill="#555555">${esc(s)}</text>`);
  }

  // ---- grid and y ticks ----
  const ticks = logTicks(10 ** a, 10 ** b);
  // When labels skip decades (spans over 10 decades), the skipped decades still get a faint line.
  out.push('<g class="y-grid-minor">');
  for (let d = Math.ceil(a); d <= Math.floor(b); d++) {
    if (ticks.some((t) => Math.abs(Math.log10(t) - d) < 1e-9)) continue;
    const y = yOf(10 ** d);
    out.push(`<line x1="${n(left)}" y1="${n(y)}" x2="${n(right)}" y2="${n(y)}" stroke="#ececec"/>`);
  }
  out.push("</g>");
  const expFrom = ticks.some((t) => t >= 1e5) ? 1e4 : 1e5;
  out.push('<g class="y-ticks">');
  for (const t of ticks) {
    const y = yOf(t);
    const major = Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;
    out.push(
      `<line x1="${n(left)}" y1="${n(y)}" x2="${n(right)}" y2="${n(y)}" stroke="${major ? "#c8c8c8" : "#ececec"}"/>`,
    );
    out.push(
      `<text x="${n(left - 6)}" y="${n(y + 4)}" text-anchor="end" fill="#333333">${esc(formatTick(t, expFrom))}</text>`,
    );
  }
  out.push("</g>");

  // ---- x ticks ----
  out.push('<g class="x-ticks">');
  table.levels.forEach((level, i) => {
    const x = xOf(i);
    out.push(`<line x1="${n(x)}" y1="${n(bottom)}" x2="${n(x)}" y2="${n(bottom + 5)}" stroke="#333333"/>`);
    out.push(
      `<text x="${n(x)}" y="${n(bottom + 18)}" text-anchor="middle" fill="#333333">${esc(level)}</text>`,
    );
  });
  out.push("</g>");

  // ---- a dashed separator before the N:M levels (a different kind of level) ----
  table.levels.forEach((level, i) => {
    if (i > 0 && isNmLabel(level) && !isNmLabel(table.levels[i - 1]!)) {
      const x = (xOf(i) + xOf(i - 1)) / 2;
      out.push(
        `<line class="separator" x1="${n(x)}" y1="${n(top)}" x2="${n(x)}" y2="${n(bottom)}" stroke="#999999" stroke-dasharray="4 4"/>`,
      );
    }
  });

  // ---- axes and labels ----
  out.push(
    `<path class="axes" d="M${n(left)} ${n(top)}V${n(bottom)}H${n(right)}" fill="none" stroke="#333333"/>`,
  );
  out.push(
    `<text class="x-label" x="${n((left + right) / 2)}" y="${n(H - 22)}" text-anchor="middle" font-size="13" fill="#111111">${esc(xLabel)}</text>`,
  );
  out.push(
    `<text class="y-label" transform="translate(18 ${n((top + bottom) / 2)}) rotate(-90)" text-anchor="middle" font-size="13" fill="#111111">${esc(yLabel)}</text>`,
  );

  // ---- series ----
  table.columns.forEach((name, c) => {
    const color = COLORS[c % COLORS.length]!;
    const shape = MARKERS[c % MARKERS.length]!;
    let d = "";
    let pen = false;
    const marks: string[] = [];
    table.levels.forEach((_, r) => {
      const v = table.values[r]![c]!;
      if (!ok(v)) {
        pen = false;
        return;
      }
      const x = xOf(r);
      const y = yOf(v);
      // N:M points stand alone: a line from 0.99 to 2:4 would suggest a trend that isn't one.
      const nm = isNmLabel(table.levels[r]!);
      d += `${pen && !nm ? "L" : "M"}${n(x)} ${n(y)}`;
      pen = !nm;
      const s = spreadAt(r, c);
      if (s !== undefined) {
        const yHi = yOf(v + s);
        const capped = v - s > 0;
        const yLo = capped ? yOf(v - s) : bottom;
        const cap = (yy: number): string => `M${n(x - 4)} ${n(yy)}H${n(x + 4)}`;
        marks.push(
          `<path class="error-bar" d="M${n(x)} ${n(yLo)}V${n(yHi)}${cap(yHi)}${capped ? cap(yLo) : ""}" stroke="${color}" stroke-width="1.5" fill="none"/>`,
        );
      }
      marks.push(marker(shape, x, y, color));
    });
    out.push(`<g class="series" data-column="${esc(name)}">`);
    if (d !== "") {
      out.push(
        `<path class="line" d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"/>`,
      );
    }
    out.push(...marks);
    out.push("</g>");
  });

  // ---- legend ----
  const lx = right + 20;
  out.push('<g class="legend">');
  table.columns.forEach((name, c) => {
    const color = COLORS[c % COLORS.length]!;
    const y = top + 8 + 20 * c;
    out.push(
      `<line x1="${n(lx)}" y1="${n(y)}" x2="${n(lx + 24)}" y2="${n(y)}" stroke="${color}" stroke-width="2"/>`,
    );
    out.push(marker(MARKERS[c % MARKERS.length]!, lx + 12, y, color));
    const label = name.length > 24 ? `${name.slice(0, 23)}…` : name;
    out.push(`<text x="${n(lx + 32)}" y="${n(y + 4)}" fill="#111111">${esc(label)}</text>`);
  });
  out.push("</g>");
  if (table.spread !== undefined) {
    out.push(
      `<text class="spread-note" x="${n(left)}" y="${n(H - 6)}" font-size="10" fill="#777777">error bars: ± ${esc(table.spreadName ?? "sd")}</text>`,
    );
  }
  if (dropped > 0) {
    out.push(
      `<text class="note" x="${n(right)}" y="${n(H - 6)}" text-anchor="end" font-size="10" fill="#777777">${dropped} point${dropped === 1 ? "" : "s"} not shown (not measured, infinite or ≤ 0)</text>`,
    );
  }
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
