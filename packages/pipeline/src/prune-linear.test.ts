import { isPruneError, matrix, SILENT_LOGGER } from "@mama-prune/core";
import { LINEAR_NAMES, loadLlama } from "@mama-prune/model";
import { describe, expect, it } from "vitest";
import { goldenInputs } from "../test/golden-cases.ts";
import { collectBlockStats, INPUT_OF, linearTensorName } from "./block-runner.ts";
import { methodNeeds, PRUNE_METHODS, resolveMethod } from "./methods.ts";
import { prune } from "./prune.ts";
import { pruneLinear } from "./prune-linear.ts";

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isPruneError(e) ? `${e.code}: ${e.message}` : `not a PruneError: ${String(e)}`;
  }
  return "no error";
}

describe("pruneLinear", () => {
  // prune() is pinned to the pre-refactor loop by golden.test.ts; block 0's statistics come from the
  // dense embeddings, so pruneLinear on block 0 with those statistics must give prune()'s block 0.
  it.each([...PRUNE_METHODS])(
    "%s: pruneLinear on block 0 equals prune()'s block 0 bit for bit",
    async (method) => {
      const { checkpoint, pre, calibration } = await goldenInputs();
      const sparsity = method === "sparsegpt" ? 0.6 : 0.5;
      // MAMA's default dense target needs the dense stream of prune()'s runner (block 0: C = H̃, equal
      // to the layer target only up to rounding): compare its layer target here (dense-target.test.ts
      // covers the other).
      const methodOptions = method === "mama" ? { target: "layer" as const } : undefined;
      const { model: pruned } = await prune({
        checkpoint,
        method,
        sparsity,
        calibration,
        preCheckpoint: pre,
        ...(methodOptions !== undefined ? { methodOptions } : {}),
      });
      const dense = await loadLlama(checkpoint);
      const resolved = resolveMethod(method, {
        hasPreCheckpoint: true,
        ...(methodOptions !== undefined ? { methodOptions } : {}),
      });
      const needs = methodNeeds(resolved);
      const stats = needs.calibration
        ? (
            await collectBlockStats({
              model: dense,
              local: 0,
              hidden: dense.embed(calibration.tokens),
              calibration,
              batchSize: 8,
              rowWeights: undefined,
              needs: needs.stats,
              backend: dense.backend,
              signal: undefined,
              keepOutput: false,
            })
          ).stats
        : undefined;
      let compared = 0;
      for (const name of LINEAR_NAMES) {
        const [rows, cols] = dense.linearShape(0, name);
        const tensor = linearTensorName(dense, 0, 0, name);
        const st = stats?.[INPUT_OF[name]];
        const r = await pruneLinear({
          name: tensor,
          weight: matrix(rows, cols, new Float32Array(dense.getLinearWeight(0, name))),
          method: resolved,
          sparsity,
          ...(st !== undefined ? { stats: st } : {}),
          ...(needs.preWeights ? { preWeight: matrix(rows, cols, await pre.readF32(tensor)) } : {}),
          log: SILENT_LOGGER,
        });
        const expected = pruned.getLinearWeight(0, name);
        expect(r.weight.length).toBe(expected.length);
        const a = new Uint32Array(r.weight.buffer, r.weight.byteOffset, r.weight.length);
        const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
        expect(
          a.every((v, k) => v === b[k]),
          `${method} ${name}`,
        ).toBe(true);
        // The mask is the zero pattern (up to SparseGPT's dead-input columns, none here).
        let zerosMasked = 0;
        for (let k = 0; k < r.mask.length; k++) if (r.mask[k] === 0 && r.weight[k] === 0) zerosMasked++;
        expect(zerosMasked).toBe(r.mask.length - r.mask.reduce((s, v) => s + v, 0));
        compared++;
      }
      expect(compared).toBe(7);
    },
  );

  it("resolves a method name itself and reports what ran", async () => {
    const w = matrix(2, 4, new Float32Array([4, -1, 3, 2, 0.5, -8, 1, 7]));
    const r = await pruneLinear({ name: "w", weight: w, method: "magnitude", sparsity: 0.5 });
    // Matrix group: the 4 smallest |w| of 8 are 0.5, -1, 1, 2.
    expect(Array.from(r.weight)).toEqual([4, 0, 3, 0, 0, -8, 0, 7]);
    expect(Array.from(r.mask)).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(r.redistribution).toBe("none");
    expect(r.reconstructionError).toBeUndefined();
    expect(Array.from(w.data)).toEqual([4, -1, 3, 2, 0.5, -8, 1, 7]);
    const nm = await pruneLinear({ name: "w", weight: w, method: "magnitude", sparsity: { n: 1, m: 2 } });
    expect(Array.from(nm.weight)).toEqual([4, 0, 3, 0, 0, -8, 0, 7]);
  });

  it("refuses 0:4, sparsity 1 and missing statistics with typed errors naming the tensor", async () => {
    const w = matrix(2, 4, new Float32Array(8).fill(1));
    expect(
      await errorOf(pruneLinear({ name: "q", weight: w, method: "magnitude", sparsity: { n: 0, m: 4 } })),
    ).toMatch(
      /^SPARSITY_INVALID: pruneLinear\(q\): option sparsity is an invalid N:M pattern\. Expected integers 1 <= n < m/,
    );
    expect(await errorOf(pruneLinear({ name: "q", weight: w, method: "magnitude", sparsity: 1 }))).toMatch(
      /^SPARSITY_INVALID: pruneLinear\(q\): option sparsity is out of range/,
    );
    expect(await errorOf(pruneLinear({ name: "q", weight: w, method: "wanda", sparsity: 0.5 }))).toMatch(
      /^SCORER_INPUT_MISSING: pruneLinear\(q\): option stats\.sqNorm is required by scorer wanda/,
    );
    expect(await errorOf(pruneLinear({ name: "q", weight: w, method: "sparsegpt", sparsity: 0.5 }))).toMatch(
      /^SCORER_INPUT_MISSING: pruneLinear\(q\): option stats\.gram is required by redistribution sparsegpt/,
    );
    expect(await errorOf(pruneLinear({ name: "q", weight: w, method: "movement", sparsity: 0.5 }))).toMatch(
      /^SCORER_INPUT_MISSING: .*option preWeight is required by scorer movement/,
    );
    expect(await errorOf(pruneLinear({ name: "q", weight: w, method: "nope", sparsity: 0.5 }))).toMatch(
      /^SCORER_NOT_FOUND: prune: option method is unknown\. Expected one of magnitude, .*mama, got "nope"\./,
    );
  });
});

describe("prune refuses 0:M", () => {
  it("throws SPARSITY_INVALID for { n: 0, m: 4 } before loading anything", async () => {
    const { checkpoint } = await goldenInputs();
    expect(await errorOf(prune({ checkpoint, method: "magnitude", sparsity: { n: 0, m: 4 } }))).toMatch(
      /^SPARSITY_INVALID: prune: option sparsity is an invalid N:M pattern\. .*got n=0, m=4\./,
    );
  });
});
