import { describe, expect, it } from "vitest";
import { formatTick, logTicks, perplexityPlotSvg } from "./plot.ts";
import type { ReportTable } from "./report.ts";

const table: ReportTable = {
  title: "Perplexity <vs> level & method",
  protocol: "seqlen 8 on tiny",
  levels: ["0", "0.5", "0.9", "2:4"],
  columns: ["Wanda", "SparseGPT", "Magnitude"],
  values: [
    [5, 5, 5],
    [7, 6.5, 20],
    [300, 120, Number.NaN],
    [9, 8, 40],
  ],
};

function count(s: string, re: RegExp): number {
  return (s.match(re) ?? []).length;
}

/** The y coordinate of every y grid line, keyed by its tick label. */
function yTicks(svg: string): Map<string, number> {
  const g = svg.slice(svg.indexOf('<g class="y-ticks">'), svg.indexOf('<g class="x-ticks">'));
  const out = new Map<string, number>();
  for (const m of g.matchAll(/<line x1="[\d.]+" y1="([\d.]+)"[^>]*\/>\n<text[^>]*>([^<]+)<\/text>/g)) {
    out.set(m[2]!, Number(m[1]));
  }
  return out;
}

describe("perplexityPlotSvg", () => {
  const svg = perplexityPlotSvg(table);

  it("draws one line per method, one marker per finite point and a legend entry per method", () => {
    expect(svg.startsWith("<svg xmlns=")).toBe(true);
    expect(count(svg, /<g class="series"/g)).toBe(3);
    expect(count(svg, /<path class="line"/g)).toBe(3);
    // Wanda: 0 → 0.5 → 0.9 connected, then 2:4 alone (a new M).
    const wanda = /data-column="Wanda">\n<path class="line" d="([^"]+)"/.exec(svg)![1]!;
    expect(count(wanda, /M/g)).toBe(2);
    expect(count(wanda, /L/g)).toBe(2);
    // Magnitude is missing at 0.9: the line breaks there.
    const mag = /data-column="Magnitude">\n<path class="line" d="([^"]+)"/.exec(svg)![1]!;
    expect(count(mag, /M/g)).toBe(2);
    expect(count(mag, /L/g)).toBe(1);
    const legend = svg.slice(svg.indexOf('<g class="legend">'));
    for (const m of table.columns) expect(legend).toContain(`>${m}</text>`);
    expect(svg).toContain("1 point not shown");
    expect(count(svg, /class="separator"/g)).toBe(1);
  });

  it("draws an error bar per point with a spread, within the axis, and leaves plain tables without bars", () => {
    expect(svg).not.toContain("error-bar");
    expect(svg).not.toContain("error bars");
    const withSpread: ReportTable = {
      ...table,
      spread: [
        [Number.NaN, Number.NaN, Number.NaN],
        [1, 0.5, 30], // Magnitude 20 ± 30: the lower end is below 0
        [Number.NaN, 20, Number.NaN],
        [2, 1, 5],
      ],
    };
    const s = perplexityPlotSvg(withSpread);
    // 7 finite spreads on plottable points (NaN cells and the missing point get none).
    expect(count(s, /class="error-bar"/g)).toBe(7);
    expect(s).toContain("error bars: ± sd");
    const ticks = yTicks(s);
    const bars = [...s.matchAll(/class="error-bar" d="M([\d.]+) ([\d.]+)V([\d.]+)/g)];
    const top = 48;
    const bottom = 460 - 64;
    for (const b of bars) {
      const y1 = Number(b[2]);
      const y2 = Number(b[3]);
      expect(y2).toBeLessThan(y1); // from the lower end up
      expect(y2).toBeGreaterThanOrEqual(top);
      expect(y1).toBeLessThanOrEqual(bottom);
    }
    // 20 + 30 = 50 is inside the y domain (the top of Magnitude's bar at 0.5).
    expect(Math.max(...[...ticks.keys()].map(Number))).toBeGreaterThanOrEqual(50);
    // Magnitude at 0.5 runs to the bottom (20 − 30 < 0 has no place on a log axis).
    expect(bars.some((b) => Number(b[2]) === bottom)).toBe(true);
    expect(() => perplexityPlotSvg({ ...withSpread, spread: [[1, 2, 3]] })).toThrow(RangeError);
  });

  it("puts log ticks at equal distances per decade and in order", () => {
    const ticks = yTicks(svg);
    // 5 … 300 spans 1.8 decades: 1-2-5 ticks.
    expect([...ticks.keys()]).toEqual(["5", "10", "20", "50", "100", "200"]);
    const y = (k: string): number => ticks.get(k)!;
    // log scale: 10→100 is the same distance as 5→50 and 20→200.
    expect(Math.abs(y("10") - y("100") - (y("5") - y("50")))).toBeLessThan(0.25);
    expect(Math.abs(y("10") - y("100") - (y("20") - y("200")))).toBeLessThan(0.25);
    expect(y("5")).toBeGreaterThan(y("200"));
    // A data point sits where the scale says: Wanda at 0.5 (value 7) between the ticks 5 and 10 at log position.
    const wanda = /data-column="Wanda">\n<path class="line" d="M[\d.]+ [\d.]+L[\d.]+ ([\d.]+)/.exec(svg)!;
    const expected = y("5") - ((y("5") - y("10")) * Math.log10(7 / 5)) / Math.log10(2);
    expect(Math.abs(Number(wanda[1]) - expected)).toBeLessThan(0.25);
  });

  it("escapes text, carries axis labels, title and protocol", () => {
    expect(svg).toContain("<title>Perplexity &lt;vs&gt; level &amp; method</title>");
    expect(svg).toContain("<desc>seqlen 8 on tiny</desc>");
    expect(svg).toContain("Pruning level (fraction of weights set to zero)");
    expect(svg).toContain("Perplexity (log scale, lower is better)");
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
  });

  it("labels every other decade over a huge range and draws faint lines for the skipped ones", () => {
    const huge = perplexityPlotSvg({
      ...table,
      values: [
        [4, 4, 4],
        [1e3, 1e6, 1e9],
        [1e10, 1e10, 1e11],
        [5, 6, 7],
      ],
    });
    const labels = [...yTicks(huge).keys()];
    expect(labels).toEqual(["100", "1e4", "1e6", "1e8", "1e10"]);
    const minor = huge.slice(huge.indexOf('<g class="y-grid-minor">'), huge.indexOf('<g class="y-ticks">'));
    expect(count(minor, /<line /g)).toBe(6); // 1e1, 1e3, 1e5, 1e7, 1e9, 1e11
  });

  it("handles a flat table and a table with nothing to plot", () => {
    const flat = perplexityPlotSvg({ ...table, values: table.values.map((r) => r.map(() => 5)) });
    expect(yTicks(flat).has("5")).toBe(true);
    expect(flat).not.toMatch(/NaN/);
    const empty = perplexityPlotSvg({ ...table, values: table.values.map((r) => r.map(() => Number.NaN)) });
    expect(count(empty, /<path class="line"/g)).toBe(0);
    expect(empty).toContain("12 points not shown");
  });

  it("refuses a ragged table and a tiny canvas", () => {
    expect(() => perplexityPlotSvg({ ...table, values: [[1, 2, 3]] })).toThrow(RangeError);
    expect(() => perplexityPlotSvg(table, { width: 10 })).toThrow(RangeError);
  });
});

describe("logTicks", () => {
  it("uses 1-2-5, whole decades or 1…9 depending on the span", () => {
    expect(logTicks(3, 2000)).toEqual([5, 10, 20, 50, 100, 200, 500, 1000, 2000]);
    expect(logTicks(2, 2e7)).toEqual([10, 100, 1000, 10000, 100000, 1000000, 10000000]);
    expect(logTicks(4.5, 9.5)).toEqual([5, 6, 7, 8, 9]);
    expect(logTicks(1, 1e30).length).toBeLessThanOrEqual(16);
    expect(() => logTicks(0, 1)).toThrow(RangeError);
  });
});

describe("formatTick", () => {
  it("keeps three significant digits and switches to exponents for huge or tiny values", () => {
    expect(formatTick(200)).toBe("200");
    expect(formatTick(0.5)).toBe("0.5");
    expect(formatTick(1e6)).toBe("1e6");
    expect(formatTick(2e5)).toBe("2e5");
    expect(formatTick(0.0001)).toBe("1e-4");
    expect(formatTick(10000)).toBe("10000");
    expect(formatTick(10000, 1e4)).toBe("1e4");
    expect(formatTick(25000, 1e4)).toBe("2.5e4");
  });
});
