import { createRng, isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { selectGlobalMask } from "./global-mask.ts";

describe("selectGlobalMask", () => {
  it("prunes exactly floor(s·total) across layers and matches a sort over all scores", () => {
    const rng = createRng(3);
    const shapes = [
      [3, 5],
      [1, 7],
      [4, 4],
    ] as const;
    const layers = shapes.map(([rows, cols], l) => ({
      name: `layer${l}`,
      rows,
      cols,
      scores: Float32Array.from({ length: rows * cols }, () => rng.int(6)),
    }));
    for (const s of [0, 0.2, 0.5, 0.77]) {
      const res = selectGlobalMask(layers, s);
      const total = layers.reduce((a, l) => a + l.scores.length, 0);
      expect(res.reduce((a, r) => a + r.pruned, 0)).toBe(Math.floor(s * total));
      // reference: (score, layer, index) order
      const all = layers.flatMap((l, li) => Array.from(l.scores, (v, i) => ({ v, li, i })));
      all.sort((a, b) => a.v - b.v || a.li - b.li || a.i - b.i);
      const pruned = new Set(all.slice(0, Math.floor(s * total)).map((e) => `${e.li}:${e.i}`));
      res.forEach((r, li) => {
        expect(r.name).toBe(`layer${li}`);
        expect(Array.from(r.mask)).toEqual(Array.from(r.mask, (_, i) => (pruned.has(`${li}:${i}`) ? 0 : 1)));
      });
    }
  });

  it("lets per-layer sparsity differ while the total is exact", () => {
    const res = selectGlobalMask(
      [
        { name: "a", scores: new Float32Array([1, 2, 3, 4]), rows: 2, cols: 2 },
        { name: "b", scores: new Float32Array([10, 20, 30, 40]), rows: 2, cols: 2 },
      ],
      0.5,
    );
    expect(res.map((r) => r.pruned)).toEqual([4, 0]);
  });

  it("rejects a bad sparsity, wrong lengths and NaN scores with typed errors", () => {
    const ok = { name: "a", scores: new Float32Array(4), rows: 2, cols: 2 };
    const codeOf = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return isPruneError(e) ? e.code : e;
      }
    };
    expect(codeOf(() => selectGlobalMask([ok], 1.5))).toBe("SPARSITY_INVALID");
    expect(codeOf(() => selectGlobalMask([{ ...ok, rows: 3 }], 0.5))).toBe("SHAPE_MISMATCH");
    expect(
      codeOf(() => selectGlobalMask([{ ...ok, scores: new Float32Array([0, 0, Number.NaN, 0]) }], 0.5)),
    ).toBe("SCORER_OUTPUT_INVALID");
    expect(selectGlobalMask([], 0.5)).toEqual([]);
  });
});
