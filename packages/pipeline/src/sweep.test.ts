import { createRng } from "@mama-prune/core";
import { perplexity } from "@mama-prune/eval";
import { describe, expect, it } from "vitest";
import { randomModel } from "../test/fixtures/random-model.ts";
import { calibrationProtocol, calibrationWindows, splitCalibrationText } from "./calibration.ts";
import { prune } from "./prune.ts";
import { levelLabel, sweep, sweepMethod } from "./sweep.ts";
import { measureSweep } from "./sweep-measure.ts";
import { sweepJsonRuns, sweepReportFiles, sweepSparsityTable } from "./sweep-report.ts";

const SHAPE = { hidden: 16, intermediate: 32, layers: 2, heads: 4, kvHeads: 2, vocab: 40, maxPos: 64 };

/** A character tokenizer over the model's 40-token vocabulary (BOS = 1). */
const tokenizer = {
  bosId: 1,
  encode: (t: string): Int32Array => Int32Array.from(t, (c) => 2 + (c.charCodeAt(0) % 38)),
};

function text(): string {
  const rng = createRng(4);
  const words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"];
  const paras: string[] = [];
  for (let p = 0; p < 24; p++) paras.push(Array.from({ length: 30 }, () => words[rng.int(10)]).join(" "));
  return paras.join("\n\n");
}

const EVAL = { seqlen: 16, windows: 3 };
const CAL = { nsamples: 2, seqlen: 16 };

describe("calibrationProtocol", () => {
  it("is the protocol of calibrationWindows for one seed and names every seed for several", () => {
    const w = calibrationWindows(
      Int32Array.from({ length: 100 }, (_, i) => i % 7),
      {
        nsamples: 3,
        seqlen: 10,
        seed: 5,
      },
    );
    expect(w.protocol).toBe(
      "3 windows × 10 tokens drawn from a 100-token stream, start_k = rng.int(91), createRng(5)",
    );
    expect(calibrationProtocol({ nsamples: 3, seqlen: 10, streamTokens: 100, seeds: [5] })).toBe(w.protocol);
    expect(calibrationProtocol({ nsamples: 3, seqlen: 10, streamTokens: 100, seeds: [0, 1, 2] })).toBe(
      "3 windows × 10 tokens drawn from a 100-token stream, start_k = rng.int(91), createRng(seed) for seeds 0, 1, 2",
    );
    expect(() => calibrationProtocol({ nsamples: 3, seqlen: 10, streamTokens: 100, seeds: [] })).toThrow(
      RangeError,
    );
  });
});

describe("sweep", () => {
  it("runs every method × level × seed, a data-free method once per level, each from a fresh copy", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const tokens = tokenizer.encode(text());
    const calibrations = [0, 1].map((seed) => ({
      seed,
      windows: calibrationWindows(tokens, { ...CAL, seed }),
    }));
    const seen: string[] = [];
    const rows = await sweep({
      methods: ["wanda", { ...sweepMethod("magnitude"), usesCalibration: false }],
      levels: [0.5, { n: 2, m: 4 }],
      prune: { checkpoint },
      calibrations,
      evaluate: async (_m, run) => {
        seen.push(`${run.label} ${levelLabel(run.level)} ${run.seed}`);
        return seen.length;
      },
    });
    expect(seen).toEqual([
      "Wanda 0.5 0",
      "Wanda 0.5 1",
      "Wanda 2:4 0",
      "Wanda 2:4 1",
      "Magnitude 0.5 undefined",
      "Magnitude 2:4 undefined",
    ]);
    expect(rows.map((r) => r.seed)).toEqual([0, 1, 0, 1, undefined, undefined]);
    // Each run is the plain prune of the checkpoint with that seed's windows.
    const direct = await prune({
      checkpoint,
      method: "wanda",
      sparsity: 0.5,
      calibration: calibrations[1]!.windows,
    });
    expect(rows[1]!.report.linears.map((l) => l.zeros)).toEqual(direct.report.linears.map((l) => l.zeros));
    expect(rows[1]!.report.calibration!.protocol).toContain("createRng(1)");
    expect(rows[0]!.report.calibration!.protocol).toContain("createRng(0)");
  });
});

describe("measureSweep", () => {
  it("one seed: the dense row, every cell equal to a direct prune + perplexity, the protocol line", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const r = await measureSweep({
      checkpoint,
      tokenizer,
      methods: ["wanda", "magnitude"],
      levels: [0, 0.5],
      evaluation: { text: text(), name: "tiny.txt", ...EVAL },
      calibration: { ...CAL, seeds: [0] },
      modelName: "random",
      modelChecksum: "ab".repeat(32),
      title: "T",
    });
    // Independent reference: split, draw, prune and evaluate by hand.
    const split = splitCalibrationText(text(), { calibrationFraction: 0.15 });
    const cal = calibrationWindows(tokenizer.encode(split.calibration), { ...CAL, seed: 0 });
    const { model } = await prune({ checkpoint, method: "wanda", sparsity: 0.5, calibration: cal });
    const ref = await perplexity(model, tokenizer, split.evaluation, { seqlen: 16, maxWindows: 3 });
    expect(r.table.levels).toEqual(["0", "0.5"]);
    expect(r.table.columns).toEqual(["Wanda", "Magnitude"]);
    expect(r.table.values[0]).toEqual([r.dense.ppl, r.dense.ppl]);
    expect(r.table.values[1]![0]).toBe(ref.ppl);
    expect(r.table.spread).toBeUndefined();
    expect(r.rows.map((x) => x.seed)).toEqual([0, 0]);
    expect(r.protocol).toBe(
      [
        "model random (hf-folder, sha256 abababababababab)",
        `evaluation: tiny.txt (evaluation split) (sha256 ${r.dense.dataset.sha256.slice(0, 16)}), 3 of ${r.dense.windowsAvailable} non-overlapping windows of seqlen 16, 45 tokens scored, ppl = exp(mean NLL)`,
        `calibration: ${cal.protocol} from the calibration split (${split.protocol}), sequential`,
        "allocation uniform",
        "backend js",
        "level 0 = the dense model",
      ].join(" | "),
    );
    const files = sweepReportFiles(r, { stem: "t" });
    expect(files.map((f) => f.name)).toEqual(["t.md", "t.csv", "t.json", "t.svg"]);
    const json = JSON.parse(files[2]!.text);
    expect(json.runs[0]).toEqual({
      method: "wanda",
      label: "Wanda",
      level: "0.5",
      ppl: ref.ppl,
      overallSparsity: r.rows[0]!.overallSparsity,
      pruneWallTimeMs: r.rows[0]!.pruneWallTimeMs,
    });
    expect(files[0]!.text).not.toContain("±");
    const sp = sweepSparsityTable(r.table, sweepJsonRuns(r));
    expect(sp.levels).toEqual(["0.5"]);
    expect(sp.columns).toEqual(["Wanda", "Magnitude"]);
    expect(sp.values[0]).toEqual(r.rows.map((x) => x.report.zeros / x.report.total));
  });

  it("several seeds: rows carry the seed, cells are mean ± sample std, the protocol says so", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const labels: string[] = [];
    const r = await measureSweep({
      checkpoint,
      tokenizer,
      methods: ["wanda", { ...sweepMethod("magnitude"), usesCalibration: false }],
      levels: [0.5],
      evaluation: { text: text(), name: "tiny.txt", ...EVAL },
      calibration: { ...CAL, seeds: [0, 1, 2] },
      title: "T",
      hooks: { onRow: (_row, label) => labels.push(label) },
    });
    expect(labels).toEqual([
      "Wanda @ 0.5 (seed 0)",
      "Wanda @ 0.5 (seed 1)",
      "Wanda @ 0.5 (seed 2)",
      "Magnitude @ 0.5",
    ]);
    const wanda = r.rows.filter((x) => x.label === "Wanda").map((x) => x.value);
    expect(new Set(wanda).size).toBe(3); // the seeds draw different windows
    const mean = (wanda[0]! + wanda[1]! + wanda[2]!) / 3;
    const sd = Math.sqrt(wanda.reduce((a, v) => a + (v - mean) ** 2, 0) / 2);
    expect(r.table.values[1]![0]).toBeCloseTo(mean, 12);
    expect(r.table.spread![1]![0]).toBeCloseTo(sd, 12);
    expect(Number.isNaN(r.table.spread![1]![1])).toBe(true); // magnitude ran once
    expect(r.protocol).toContain("createRng(seed) for seeds 0, 1, 2 from the calibration split");
    expect(r.protocol).toContain(
      "cells: mean ± sample standard deviation (n − 1) of the 3 perplexities from calibration seeds 0, 1, 2",
    );
    // Seed 0 of a three-seed sweep is the one-seed sweep's number, bit for bit.
    const one = await measureSweep({
      checkpoint,
      tokenizer,
      methods: ["wanda"],
      levels: [0.5],
      evaluation: { text: text(), name: "tiny.txt", ...EVAL },
      calibration: { ...CAL, seeds: [0] },
      title: "T",
    });
    expect(one.table.values[1]![0]).toBe(wanda[0]);
    expect(sweepJsonRuns(r).map((x) => x.seed)).toEqual([0, 1, 2, undefined]);
    const files = sweepReportFiles(r, { stem: "t" });
    expect(files[0]!.text).toMatch(/\| 0\.5 \| \d+\.\d\d ± \d+\.\d\d \| \d+\.\d\d \|/);
    expect(files[1]!.text.split("\n")[2]).toBe("Pruning level,Wanda,Wanda sd,Magnitude,Magnitude sd");
    expect(files[3]!.text).toContain('class="error-bar"');
  });

  it("passes W⁰ only to the columns that use it, and refuses an empty seed list", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const { checkpoint: pre } = await randomModel({ ...SHAPE, seed: 9 }, "pre");
    const r = await measureSweep({
      checkpoint,
      tokenizer,
      methods: [
        { label: "movement", options: { method: "movement" }, usesCalibration: false },
        { label: "magnitude, no W⁰", options: { method: "magnitude" }, usePreCheckpoint: false },
      ],
      levels: [0.5],
      evaluation: { text: text(), name: "tiny.txt", ...EVAL },
      preCheckpoint: pre,
      preName: "pre.safetensors",
      title: "T",
    });
    expect(r.rows.map((x) => x.report.usedPreCheckpoint)).toEqual([true, false]);
    expect(r.protocol).toContain(
      `model ${checkpoint.source} (hf-folder) | pre-trained W⁰ for movement: pre.safetensors | `,
    );
    expect(r.protocol).toContain("calibration: none (data-free methods)");
    await expect(
      measureSweep({
        checkpoint,
        tokenizer,
        methods: ["wanda"],
        levels: [0.5],
        evaluation: { text: text(), name: "tiny.txt", ...EVAL },
        calibration: { ...CAL, seeds: [] },
        title: "T",
      }),
    ).rejects.toThrow(/seeds/);
  });
});
