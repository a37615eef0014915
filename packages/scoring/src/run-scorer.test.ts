import { isPruneError, SILENT_LOGGER } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { ctxOf, m } from "../test/helpers.ts";
import type { ScoreContext, ScorerPlugin } from "./contract.ts";
import { runScorer } from "./run-scorer.ts";
import { magnitude } from "./scorers/magnitude.ts";
import { wanda } from "./scorers/wanda.ts";

const plugin = (
  score: (ctx: ScoreContext) => Float32Array | Promise<Float32Array>,
  extra = {},
): ScorerPlugin => ({
  name: "acme/test",
  apiVersion: 1,
  granularity: "element",
  requires: ["weights"],
  score,
  ...extra,
});

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isPruneError(e) ? `${e.code}: ${e.message}` : String(e);
  }
  return "no error";
}

const w = m([
  [1, -2],
  [3, 4],
]);

describe("runScorer", () => {
  it("returns the plugin's scores", async () => {
    expect(Array.from(await runScorer(magnitude(), ctxOf(w)))).toEqual([1, 2, 3, 4]);
  });

  it("passes only the declared inputs", async () => {
    let seen: string[] = [];
    const spy = plugin(
      (ctx) => {
        seen = Object.keys(ctx).sort();
        return new Float32Array(4);
      },
      { requires: ["activation-norms"] },
    );
    const full = ctxOf(w, {
      activationNorms: new Float32Array([1, 1]),
      activationMean: new Float32Array(2),
      preWeight: m([
        [0, 0],
        [0, 0],
      ]),
      gradients: m([
        [0, 0],
        [0, 0],
      ]),
      tokens: 7,
    });
    await runScorer(spy, full);
    expect(seen).toEqual(["activationNorms", "log", "name", "tokens", "weight"]);
  });

  it("names the missing input and tensor", async () => {
    expect(await failure(runScorer(wanda(), ctxOf(w)))).toMatchInlineSnapshot(
      `"SCORER_INPUT_MISSING: scorer wanda on model.layers.0.mlp.up_proj.weight: required input "activation-norms" is missing for tensor model.layers.0.mlp.up_proj.weight. Expected the host to compute it, got undefined."`,
    );
  });

  it("checks input shapes and values", async () => {
    expect(await failure(runScorer(wanda(), ctxOf(w, { activationNorms: new Float32Array(3) })))).toMatch(
      /^SHAPE_MISMATCH.*activation-norms has the wrong length. Expected 2.*got 3/,
    );
    expect(
      await failure(runScorer(wanda(), ctxOf(w, { activationNorms: new Float32Array([1, -1]) }))),
    ).toMatch(/^CALIBRATION_INVALID.*activation-norms\[1\]/);
    const pre = plugin(() => new Float32Array(4), { requires: ["pre-weights"] });
    expect(await failure(runScorer(pre, ctxOf(w, { preWeight: m([[1, 2]]) })))).toMatch(
      /^SHAPE_MISMATCH.*pre-weights.*Expected \[2, 2\]/,
    );
    const nan = { rows: 2, cols: 2, data: new Float32Array([1, 2, Number.NaN, 4]) };
    expect(await failure(runScorer(magnitude(), ctxOf(nan)))).toMatch(
      /^NUMERIC_FAILURE.*weight has a non-finite value at row 1, col 0.*got NaN/,
    );
    const bad = { rows: 2, cols: 2, data: new Float32Array(3) };
    expect(await failure(runScorer(magnitude(), ctxOf(bad)))).toMatch(/^SHAPE_MISMATCH.*weight/);
  });

  it("rejects outputs of the wrong length, type, aliasing or with non-finite values, naming scorer and tensor", async () => {
    expect(
      await failure(
        runScorer(
          plugin(() => new Float32Array(3)),
          ctxOf(w),
        ),
      ),
    ).toMatchInlineSnapshot(
      `"SCORER_OUTPUT_INVALID: scorer acme/test on model.layers.0.mlp.up_proj.weight: score() returned the wrong number of scores. Expected 4 (rows·cols = 2·2), got 3."`,
    );
    expect(
      await failure(
        runScorer(
          plugin(() => new Float32Array([0, Number.NaN, 0, 0])),
          ctxOf(w),
        ),
      ),
    ).toMatch(
      /^SCORER_OUTPUT_INVALID: scorer acme\/test on .*score 1 \(row 0, col 1\) is not finite.*got NaN/,
    );
    expect(
      await failure(
        runScorer(
          plugin(() => new Float32Array([0, 0, 0, Infinity])),
          ctxOf(w),
        ),
      ),
    ).toMatch(/got Infinity/);
    const f64 = plugin(() => new Float64Array(4) as unknown as Float32Array);
    expect(await failure(runScorer(f64, ctxOf(w)))).toMatch(/wrong type.*got Float64Array/);
    expect(
      await failure(
        runScorer(
          plugin((ctx) => ctx.weight.data),
          ctxOf(w),
        ),
      ),
    ).toMatch(/alias/);
  });

  it("rejects with ABORTED before scoring and rewraps a DOM AbortError", async () => {
    const ac = new AbortController();
    ac.abort();
    let called = false;
    const p = plugin(() => {
      called = true;
      return new Float32Array(4);
    });
    expect(await failure(runScorer(p, ctxOf(w, { signal: ac.signal })))).toMatch(/^ABORTED/);
    expect(called).toBe(false);
    const dom = plugin(() => {
      throw new DOMException("stop", "AbortError");
    });
    expect(await failure(runScorer(dom, { name: "t", weight: w, log: SILENT_LOGGER }))).toMatch(
      /^ABORTED: scorer acme\/test on t/,
    );
  });

  it("lets other plugin errors through unchanged", async () => {
    const boom = plugin(() => {
      throw new Error("boom");
    });
    await expect(runScorer(boom, ctxOf(w))).rejects.toThrow("boom");
  });
});
