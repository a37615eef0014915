import { describe, expect, it } from "vitest";
import {
  type ReportTable,
  reportCsv,
  reportJson,
  reportJsonObject,
  reportMarkdown,
  reportTableFromPoints,
} from "./report.ts";

const table: ReportTable = {
  title: "Table 2: Perplexity of the pruned model",
  protocol: "ppl on tiny, seqlen 8",
  levels: ["0", "0.5", "2:4"],
  columns: ["Wanda", "Magnitude, global"],
  values: [
    [5.123, 5.123],
    [7.25, Number.NaN],
    [9.999, Number.POSITIVE_INFINITY],
  ],
};

describe("reportMarkdown", () => {
  it("writes level rows × method columns with the protocol line", () => {
    expect(reportMarkdown(table)).toBe(
      [
        "## Table 2: Perplexity of the pruned model",
        "",
        "Protocol: ppl on tiny, seqlen 8",
        "",
        "| Pruning level | Wanda | Magnitude, global |",
        "|---|---:|---:|",
        "| 0 | 5.12 | 5.12 |",
        "| 0.5 | 7.25 | – |",
        "| 2:4 | 10.00 | ∞ |",
        "",
      ].join("\n"),
    );
  });

  it("escapes pipes and honours digits and heading level", () => {
    const md = reportMarkdown(
      { title: "a|b", protocol: "x\ny", levels: ["0"], columns: ["c|d"], values: [[1234567.5]] },
      { digits: 1, headingLevel: 3 },
    );
    expect(md).toContain("### a\\|b");
    expect(md).toContain("Protocol: x y");
    expect(md).toContain("| Pruning level | c\\|d |");
    expect(md).toContain("| 0 | 1.2e+6 |");
  });

  it("refuses a ragged table", () => {
    expect(() => reportMarkdown({ ...table, values: [[1, 2]] })).toThrow(RangeError);
    expect(() => reportMarkdown({ ...table, values: [[1], [2], [3]] })).toThrow(/values\[0\] has 1 cells/);
    expect(() => reportMarkdown(table, { digits: -1 })).toThrow(RangeError);
  });
});

describe("tables with a spread", () => {
  const spreadTable: ReportTable = {
    title: "T",
    protocol: "p",
    levels: ["0", "0.5"],
    columns: ["Wanda", "Magnitude"],
    values: [
      [5, 5],
      [12.3125, 2.5e7],
    ],
    spread: [
      [Number.NaN, Number.NaN],
      [0.4217, 3.1e6],
    ],
  };

  it("writes mean ± spread in Markdown and leaves single measurements plain", () => {
    const md = reportMarkdown(spreadTable);
    expect(md).toContain("| 0 | 5.00 | 5.00 |");
    expect(md).toContain("| 0.5 | 12.31 ± 0.42 | 2.50e+7 ± 3.10e+6 |");
  });

  it("adds a spread column per method in CSV and a spread array in JSON", () => {
    const csv = reportCsv(spreadTable, { comments: false });
    expect(csv).toBe(
      "Pruning level,Wanda,Wanda sd,Magnitude,Magnitude sd\n0,5,,5,\n0.5,12.3125,0.4217,25000000,3100000\n",
    );
    const j = reportJsonObject({ ...spreadTable, spreadName: "std" });
    expect(j.spreadName).toBe("std");
    expect(j.rows[1]).toEqual({ level: "0.5", values: [12.3125, 2.5e7], spread: [0.4217, 3.1e6] });
    expect(j.rows[0]!.spread).toEqual([null, null]);
  });

  it("refuses a spread of the wrong shape", () => {
    expect(() => reportMarkdown({ ...spreadTable, spread: [[1, 2]] })).toThrow(/spread has 1 rows/);
    expect(() => reportCsv({ ...spreadTable, spread: [[1], [2]] })).toThrow(/spread\[0\] has 1 cells/);
  });

  it("writes huge values in fixed form when expFrom is Infinity", () => {
    const md = reportMarkdown(
      { title: "T", protocol: "p", levels: ["0.99"], columns: ["A"], values: [[2577057279.5381]] },
      { digits: 3, expFrom: Number.POSITIVE_INFINITY },
    );
    expect(md).toContain("| 0.99 | 2577057279.538 |");
    expect(() => reportMarkdown(table, { expFrom: 0 })).toThrow(/expFrom/);
  });
});

describe("reportCsv", () => {
  it("writes RFC 4180 CSV with comment lines, full precision and empty missing cells", () => {
    expect(reportCsv(table)).toBe(
      [
        "# Table 2: Perplexity of the pruned model",
        "# protocol: ppl on tiny, seqlen 8",
        'Pruning level,Wanda,"Magnitude, global"',
        "0,5.123,5.123",
        "0.5,7.25,",
        "2:4,9.999,Infinity",
        "",
      ].join("\n"),
    );
  });

  it("omits the comments on request and quotes embedded quotes", () => {
    const csv = reportCsv(
      { title: "t", protocol: "p", levels: ['a"b'], columns: ["x"], values: [[0.1]] },
      { comments: false },
    );
    expect(csv).toBe('Pruning level,x\n"a""b",0.1\n');
  });
});

describe("reportJson", () => {
  it("turns NaN and Infinity into null and round-trips through JSON.parse", () => {
    const obj = reportJsonObject(table);
    expect(obj.rows).toEqual([
      { level: "0", values: [5.123, 5.123] },
      { level: "0.5", values: [7.25, null] },
      { level: "2:4", values: [9.999, null] },
    ]);
    expect(JSON.parse(reportJson(table))).toEqual({
      title: table.title,
      protocol: table.protocol,
      metric: "perplexity",
      levelHeader: "Pruning level",
      columns: ["Wanda", "Magnitude, global"],
      rows: obj.rows,
    });
  });
});

describe("reportTableFromPoints", () => {
  it("places points by method and level, fills the baseline row and labels columns", () => {
    const t = reportTableFromPoints(
      [
        { method: "wanda", level: "0.5", value: 7 },
        { method: "magnitude", level: "0.5", value: 20 },
        { method: "wanda", level: "2:4", value: 9 },
      ],
      {
        title: "T",
        protocol: "p",
        baseline: { level: "0", value: 5 },
        labels: { wanda: "Wanda" },
      },
    );
    expect(t.levels).toEqual(["0", "0.5", "2:4"]);
    expect(t.columns).toEqual(["Wanda", "magnitude"]);
    expect(t.values[0]).toEqual([5, 5]);
    expect(t.values[1]).toEqual([7, 20]);
    expect(t.values[2]![0]).toBe(9);
    expect(Number.isNaN(t.values[2]![1])).toBe(true);
  });

  it("follows explicit method and level orders", () => {
    const t = reportTableFromPoints([{ method: "a", level: "0.5", value: 1 }], {
      title: "T",
      protocol: "p",
      methods: ["b", "a"],
      levels: ["0.5"],
    });
    expect(t.columns).toEqual(["b", "a"]);
    expect(Number.isNaN(t.values[0]![0])).toBe(true);
    expect(t.values[0]![1]).toBe(1);
  });

  it("aggregates repeated points (seeds) into the mean and the sample standard deviation", () => {
    const pts = [
      { method: "wanda", level: "0.5", value: 10, seed: 0 },
      { method: "wanda", level: "0.5", value: 12, seed: 1 },
      { method: "wanda", level: "0.5", value: 17, seed: 2 },
      { method: "magnitude", level: "0.5", value: 20 },
    ];
    const t = reportTableFromPoints(pts, {
      title: "T",
      protocol: "p",
      aggregate: "sample-std",
      baseline: { level: "0", value: 5 },
    });
    // Independent reference: mean 13, deviations -3, -1, 4 → sum of squares 26, / (3 − 1) = 13.
    expect(t.values[1]![0]).toBe(13);
    expect(t.spread![1]![0]).toBeCloseTo(Math.sqrt(13), 14);
    // One measurement (magnitude) and the baseline row carry no spread.
    expect(t.values[1]![1]).toBe(20);
    expect(Number.isNaN(t.spread![1]![1])).toBe(true);
    expect(t.spread![0]!.every(Number.isNaN)).toBe(true);
    // "last" (the default) keeps the last value and adds no spread.
    const last = reportTableFromPoints(pts, { title: "T", protocol: "p" });
    expect(last.values[0]).toEqual([17, 20]);
    expect(last.spread).toBeUndefined();
    // Nothing repeated: no spread at all, so the renderers write the plain table.
    const single = reportTableFromPoints(pts.slice(2), {
      title: "T",
      protocol: "p",
      aggregate: "sample-std",
    });
    expect(single.spread).toBeUndefined();
    expect(() =>
      reportTableFromPoints(pts, { title: "T", protocol: "p", aggregate: "median" as never }),
    ).toThrow(/aggregate/);
  });

  it("refuses malformed points", () => {
    expect(() =>
      reportTableFromPoints([{ method: "a", level: 0.5 } as never], { title: "T", protocol: "p" }),
    ).toThrow(TypeError);
  });
});
