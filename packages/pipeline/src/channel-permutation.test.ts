import { createRng, type NmPattern, SILENT_LOGGER } from "@mama-prune/core";
import { LINEAR_NAMES, type LinearName, loadLlama } from "@mama-prune/model";
import { memoryCheckpointDir, readHfCheckpoint } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { randomModel, randomWindows } from "../test/fixtures/random-model.ts";
import {
  type ChannelDomain,
  chooseNmChannelPermutation,
  columnPermutation,
  permuteStats,
} from "./channel-permutation.ts";
import { permuteBlockChannels } from "./channel-permutation-block.ts";
import { prune } from "./prune.ts";
import type { LinearInputStats } from "./stats.ts";
import { pruneToCheckpoint } from "./stream.ts";

const NM: NmPattern = { n: 2, m: 4 };

/** Dropped importance of a permutation, recomputed independently (sort each run, sum the n smallest). */
function dropped(
  score: Float64Array,
  cols: number,
  rows: number,
  d: ChannelDomain,
  perm: ArrayLike<number>,
  nm: NmPattern,
): number {
  let s = 0;
  for (const o of d.offsets) {
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < d.size; g += nm.m) {
        const v: number[] = [];
        for (let i = 0; i < nm.m; i++) v.push(score[r * cols + o + perm[g + i]!]!);
        v.sort((a, b) => a - b);
        for (let i = 0; i < nm.n; i++) s += v[i]!;
      }
    }
  }
  return s;
}

/** Every split of 8 channels into two runs of 4 (as permutations). */
function splits8(): number[][] {
  const out: number[][] = [];
  for (let mask = 0; mask < 256; mask++) {
    const a = [0, 1, 2, 3, 4, 5, 6, 7].filter((i) => (mask >> i) & 1);
    if (a.length !== 4 || !a.includes(0)) continue;
    out.push([...a, ...[0, 1, 2, 3, 4, 5, 6, 7].filter((i) => !a.includes(i))]);
  }
  return out;
}

function randomScore(rows: number, cols: number, seed: number): Float64Array {
  const rng = createRng(seed);
  return Float64Array.from({ length: rows * cols }, () => rng.normal() ** 2 * Math.exp(rng.normal()));
}

describe("chooseNmChannelPermutation", () => {
  it("spreads the important channels over the runs (the exhaustive optimum on a constructed case)", () => {
    const rows = 3;
    const cols = 8;
    // Channels 0..3 matter (10), 4..7 do not (1): the identity drops two important weights per row.
    const score = Float64Array.from({ length: rows * cols }, (_, k) => (k % cols < 4 ? 10 + (k % 3) : 1));
    const d = { size: 8, offsets: [0] };
    const p = chooseNmChannelPermutation(score, rows, cols, d, NM);
    const best = Math.min(...splits8().map((s) => dropped(score, cols, rows, d, s, NM)));
    expect(p.prunedBefore).toBeCloseTo(dropped(score, cols, rows, d, [0, 1, 2, 3, 4, 5, 6, 7], NM), 9);
    expect(p.prunedAfter).toBeCloseTo(best, 9);
    expect(p.prunedAfter).toBeCloseTo(dropped(score, cols, rows, d, p.perm, NM), 9);
    expect(p.prunedAfter).toBeLessThan(0.5 * p.prunedBefore);
  });

  it("returns a permutation whose dropped importance is what it reports, never above the identity's, near the optimum", () => {
    let hits = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const rows = 6;
      const score = randomScore(rows, 8, seed);
      const d = { size: 8, offsets: [0] };
      const p = chooseNmChannelPermutation(score, rows, 8, d, NM);
      expect([...p.perm].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      const mine = dropped(score, 8, rows, d, p.perm, NM);
      expect(p.prunedAfter).toBeCloseTo(mine, 9);
      expect(mine).toBeLessThanOrEqual(p.prunedBefore + 1e-12);
      const best = Math.min(...splits8().map((s) => dropped(score, 8, rows, d, s, NM)));
      expect(mine).toBeGreaterThanOrEqual(best - 1e-9);
      expect(mine).toBeLessThanOrEqual(1.05 * best);
      if (mine <= best + 1e-9) hits++;
    }
    expect(hits).toBeGreaterThanOrEqual(15);
  });

  it("applies one permutation to every copy of a domain (o_proj's query heads sharing a kv head)", () => {
    const rows = 5;
    const cols = 24;
    const score = randomScore(rows, cols, 3);
    const d = { size: 8, offsets: [0, 16] }; // columns 8..15 are another domain, untouched
    const p = chooseNmChannelPermutation(score, rows, cols, d, NM);
    expect(p.prunedAfter).toBeCloseTo(dropped(score, cols, rows, d, p.perm, NM), 9);
    const col = columnPermutation(cols, [d], [p.perm]);
    for (let j = 8; j < 16; j++) expect(col[j]).toBe(j);
    for (let q = 0; q < 8; q++) {
      expect(col[q]).toBe(p.perm[q]);
      expect(col[16 + q]).toBe(16 + p.perm[q]!);
    }
    expect(() => chooseNmChannelPermutation(score, rows, cols, { size: 6, offsets: [0] }, NM)).toThrow(
      /whole runs of 4/,
    );
  });
});

describe("permuteStats", () => {
  it("equals the statistics of the permuted input, bit for bit", () => {
    const rng = createRng(5);
    const T = 30;
    const cols = 8;
    const x = Float64Array.from({ length: T * cols }, () => rng.normal());
    const y = Float64Array.from({ length: T * cols }, () => rng.normal()); // the dense stream
    const perm = Int32Array.from([3, 1, 7, 0, 2, 6, 5, 4]);
    const stats = (a: Float64Array, b: Float64Array, p: ArrayLike<number>): LinearInputStats => {
      const sq = new Float64Array(cols);
      const sum = new Float64Array(cols);
      const gram = new Float64Array(cols * cols);
      const crossGram = new Float64Array(cols * cols);
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < cols; i++) {
          const ai = a[t * cols + p[i]!]!;
          sq[i] = sq[i]! + ai * ai;
          sum[i] = sum[i]! + ai;
          for (let j = 0; j < cols; j++) {
            gram[i * cols + j] = gram[i * cols + j]! + ai * a[t * cols + p[j]!]!;
            crossGram[i * cols + j] = crossGram[i * cols + j]! + ai * b[t * cols + p[j]!]!;
          }
        }
      }
      return { cols, tokens: T, weightSum: T, sqNorm: sq, sum, gram, crossGram };
    };
    const id = [0, 1, 2, 3, 4, 5, 6, 7];
    expect(permuteStats(stats(x, y, id), perm)).toEqual(stats(x, y, perm));
    // In place (cycles 0→3→0, 2→7→4→2, 5→6→5, 1 fixed): the same values in the given arrays.
    const given = stats(x, y, id);
    const inPlace = permuteStats(given, perm, true);
    expect(inPlace).toEqual(stats(x, y, perm));
    expect(inPlace.gram).toBe(given.gram);
    expect(inPlace.crossGram).toBe(given.crossGram);
  });

  it("in place equals the copy bit for bit on a long random permutation", () => {
    const rng = createRng(9);
    const n = 97;
    const perm = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const gram = Float64Array.from({ length: n * n }, () => rng.normal());
    const base = { cols: n, tokens: 1, weightSum: 1, gram };
    const copy = permuteStats(base, perm);
    const inPlace = permuteStats({ ...base, gram: new Float64Array(gram) }, perm, true);
    expect(Array.from(inPlace.gram!)).toEqual(Array.from(copy.gram!));
    expect(copy.gram![0]).toBe(gram[perm[0]! * n + perm[0]!]);
  });
});

describe("permuteBlockChannels", () => {
  it("leaves a dense block the same function, moves channels, and gives the permuted input's Gram", async () => {
    const { checkpoint } = await randomModel({
      hidden: 32,
      intermediate: 32,
      heads: 4,
      kvHeads: 2,
      layers: 1,
    });
    const model = await loadLlama(checkpoint);
    const n = 3;
    const s = 10;
    const rng = createRng(11);
    const x = Float32Array.from({ length: n * s * 32 }, () => rng.normal());
    const grams = async (): Promise<{ out: Float32Array; g: Map<LinearName, Float64Array> }> => {
      const g = new Map<LinearName, Float64Array>();
      const out = await model.runBlock(0, x, n, s, {
        onLinearInput(name, xin, rows, cols) {
          if (name !== "o_proj" && name !== "down_proj") return;
          const m = new Float64Array(cols * cols);
          for (let r = 0; r < rows; r++)
            for (let i = 0; i < cols; i++)
              for (let j = 0; j < cols; j++)
                m[i * cols + j] = m[i * cols + j]! + xin[r * cols + i]! * xin[r * cols + j]!;
          g.set(name, m);
        },
      });
      return { out: Float32Array.from(out), g };
    };
    const before = await grams();
    const moved: Record<string, number> = {};
    const permuted = new Map<LinearName, Float64Array>();
    for (const name of ["o_proj", "down_proj"] as const) {
      const cols = model.linearShape(0, name)[1];
      const st: LinearInputStats = { cols, tokens: n * s, weightSum: n * s, gram: before.g.get(name)! };
      const r = permuteBlockChannels(model, 0, name, st, NM, SILENT_LOGGER);
      moved[name] = r.moved;
      expect(r.prunedAfter).toBeLessThan(r.prunedBefore);
      permuted.set(name, r.stats.gram!);
    }
    expect(moved["o_proj"]).toBeGreaterThan(0);
    expect(moved["down_proj"]).toBeGreaterThan(0);
    const after = await grams();
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < before.out.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(before.out[i]!));
      maxDiff = Math.max(maxDiff, Math.abs(after.out[i]! - before.out[i]!));
    }
    expect(maxAbs).toBeGreaterThan(0.1);
    expect(maxDiff).toBeLessThanOrEqual(1e-6 * Math.max(1, maxAbs));
    for (const name of ["o_proj", "down_proj"] as const) {
      const a = after.g.get(name)!;
      const b = permuted.get(name)!;
      for (let k = 0; k < a.length; k++)
        expect(Math.abs(a[k]! - b[k]!)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(a[k]!)));
    }
    expect(() =>
      permuteBlockChannels(model, 0, "q_proj", { cols: 32, tokens: 1, weightSum: 1 }, NM, SILENT_LOGGER),
    ).toThrow(/o_proj or down_proj/);
  });
});

describe("permuteBlockChannels' work budget", () => {
  it("is the whole linear's, split evenly over o_proj's kv-head domains", async () => {
    const H = 64;
    const { checkpoint } = await randomModel({
      hidden: H,
      intermediate: 32,
      heads: 4,
      kvHeads: 2,
      layers: 1,
    });
    const hd = 16; // 64 / 4 heads: 4 runs of 4 per domain, 6 pairs of runs per pass
    const domains: ChannelDomain[] = [0, 1].map((k) => ({
      size: hd,
      offsets: [2 * k * hd, (2 * k + 1) * hd],
    }));
    const rng = createRng(5);
    const diag = Float64Array.from({ length: H }, () => Math.exp(rng.normal()));
    // The permutation a budget gives each domain, composed as permuteBlockChannels composes it.
    const expected = async (perDomain: number): Promise<Float32Array> => {
      const model = await loadLlama(checkpoint);
      const W = model.getLinearWeight(0, "o_proj");
      const score = new Float64Array(H * H);
      for (let r = 0; r < H; r++)
        for (let j = 0; j < H; j++) score[r * H + j] = W[r * H + j]! ** 2 * diag[j]!;
      const perms = domains.map(
        (d) => chooseNmChannelPermutation(score, H, H, d, NM, { budget: perDomain }).perm,
      );
      const col = columnPermutation(H, domains, perms);
      const out = new Float32Array(H * H);
      for (let r = 0; r < H; r++) for (let j = 0; j < H; j++) out[r * H + j] = W[r * H + col[j]!]!;
      return out;
    };
    const budget = 16 * 16384; // 16384 reads per pair of runs here: the search stops early
    const model = await loadLlama(checkpoint);
    const st: LinearInputStats = { cols: H, tokens: 1, weightSum: 1, sqNorm: diag };
    permuteBlockChannels(model, 0, "o_proj", st, NM, SILENT_LOGGER, { budget });
    const got = Float32Array.from(model.getLinearWeight(0, "o_proj"));
    expect(got).toEqual(await expected(budget / 2));
    // Not the result of giving every domain the whole budget (so the split is what this checks).
    expect(got).not.toEqual(await expected(budget));
  });
});

describe('prune with MAMA\'s permute: "channels"', () => {
  const SHAPE = { hidden: 32, intermediate: 32, layers: 2, heads: 4, kvHeads: 2, vocab: 40 };
  it("gives a valid 2:4 model that differs from the unpermuted one, and changes nothing at 50 %", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const cal = randomWindows(4, 12, SHAPE.vocab);
    const run = (sparsity: number | NmPattern, permute: "none" | "channels") =>
      prune({ checkpoint, method: "mama", sparsity, calibration: cal, methodOptions: { permute } });
    const p = await run(NM, "channels");
    const q = await run(NM, "none");
    let differ = 0;
    for (let l = 0; l < 2; l++) {
      for (const name of LINEAR_NAMES) {
        const w = p.model.getLinearWeight(l, name);
        const cols = p.model.linearShape(l, name)[1];
        for (let g = 0; g < w.length; g += 4) {
          let z = 0;
          for (let i = 0; i < 4; i++) if (w[g + i] === 0) z++;
          expect(z, `${name} block ${l} run ${g / cols}`).toBeGreaterThanOrEqual(2);
        }
        const v = q.model.getLinearWeight(l, name);
        for (let k = 0; k < w.length; k++) if (w[k] !== v[k]) differ++;
      }
    }
    expect(differ).toBeGreaterThan(0);
    expect(p.report.overallSparsity).toBeCloseTo(0.5, 9);
    const a = await run(0.5, "channels");
    const b = await run(0.5, "none");
    for (let l = 0; l < 2; l++)
      for (const name of LINEAR_NAMES)
        expect(a.model.getLinearWeight(l, name)).toEqual(b.model.getLinearWeight(l, name));
  });

  it("writes the same permuted weights one block at a time (pruneToCheckpoint) as in memory", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const cal = randomWindows(3, 8, SHAPE.vocab);
    const opts = {
      method: "mama",
      sparsity: NM,
      calibration: cal,
      methodOptions: { permute: "channels" },
    } as const;
    const mem = await prune({ checkpoint, ...opts });
    const out = memoryCheckpointDir("permuted");
    await pruneToCheckpoint(out, { checkpoint, ...opts, format: "dense" });
    const back = await readHfCheckpoint(out);
    for (let l = 0; l < SHAPE.layers; l++) {
      for (const name of LINEAR_NAMES) {
        const got = await back.readF32(mem.model.parameterName(l, name));
        expect(Array.from(got), `${l}.${name}`).toEqual(Array.from(mem.model.getLinearWeight(l, name)));
      }
    }
  });
});
