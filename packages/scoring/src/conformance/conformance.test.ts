import { createRng, throwIfAborted } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import type { ScoreContext, ScorerPlugin } from "../contract.ts";
import { magnitude } from "../scorers/magnitude.ts";
import { CONFORMANCE_CHECKS, type ConformanceCheckId, scorerConformance } from "./index.ts";

/** A well-behaved base: |W| with the abort contract. */
function base(
  name: string,
  score: (ctx: ScoreContext) => Float32Array,
  extra: Partial<ScorerPlugin> = {},
): ScorerPlugin {
  return {
    name,
    apiVersion: 1,
    granularity: "element",
    requires: ["weights"],
    score(ctx: ScoreContext): Float32Array {
      throwIfAborted(ctx.signal, name);
      return score(ctx);
    },
    ...extra,
  };
}
const abs = (ctx: ScoreContext): Float32Array => ctx.weight.data.map(Math.abs);

async function outcome(p: ScorerPlugin, id: ConformanceCheckId): Promise<string> {
  const check = scorerConformance(p).find((c) => c.id === id)!;
  try {
    await check.run();
    return "pass";
  } catch (e) {
    return `fail: ${(e as Error).message}`;
  }
}

const rng = createRng(42);
const BROKEN: { plugin: ScorerPlugin; caughtBy: ConformanceCheckId; why: RegExp }[] = [
  {
    plugin: base("returns-nan", (ctx) => ctx.weight.data.map((x) => (x > 0.5 ? Number.NaN : x))),
    caughtBy: "finite-scores",
    why: /not finite/,
  },
  {
    plugin: base("wrong-length", (ctx) => new Float32Array(ctx.weight.cols)),
    caughtBy: "finite-scores",
    why: /expected \d+ scores/,
  },
  {
    plugin: base("mutates-input", (ctx) => {
      const d = ctx.weight.data as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] = Math.abs(d[i]!);
      return d.slice();
    }),
    caughtBy: "no-mutation",
    why: /mutated input weight/,
  },
  {
    plugin: base("random-output", (ctx) => ctx.weight.data.map((x) => x + rng.next())),
    caughtBy: "deterministic",
    why: /differ/,
  },
  {
    plugin: base("reads-undeclared", (ctx) => {
      const n = ctx.activationNorms;
      return ctx.weight.data.map((x, k) => Math.abs(x) * (n === undefined ? 1 : n[k % ctx.weight.cols]!));
    }),
    caughtBy: "declared-inputs",
    why: /read undeclared input\(s\) activationNorms/,
  },
  {
    plugin: { ...base("ignores-abort", abs), score: abs },
    caughtBy: "abort",
    why: /resolved although the signal was aborted/,
  },
  {
    plugin: {
      ...base("dom-abort-error", abs),
      score: (ctx: ScoreContext): Float32Array => {
        ctx.signal?.throwIfAborted();
        return abs(ctx);
      },
    },
    caughtBy: "abort",
    why: /expected a PruneError with code ABORTED, got AbortError/,
  },
  {
    plugin: base("position-dependent", (ctx) =>
      ctx.weight.data.map((x, k) => Math.abs(x) + (k % ctx.weight.cols)),
    ),
    caughtBy: "permutation-equivariant",
    why: /did not permute the scores/,
  },
  { plugin: base("Bad_Name", abs), caughtBy: "metadata", why: /name must be kebab-case/ },
  {
    plugin: base("returns-array", (ctx) => Array.from(abs(ctx)) as unknown as Float32Array),
    caughtBy: "finite-scores",
    why: /expected a Float32Array, got Array/,
  },
  { plugin: base("aliases-weight", (ctx) => ctx.weight.data), caughtBy: "finite-scores", why: /alias/ },
];

describe("scorerConformance", () => {
  it("returns one named check per documented check", () => {
    const checks = scorerConformance(magnitude());
    expect(checks.map((c) => c.id)).toEqual(CONFORMANCE_CHECKS.map((c) => c.id));
    expect(checks[0]!.name).toBe("magnitude conformance: has valid metadata");
  });

  for (const { plugin, caughtBy, why } of BROKEN) {
    it(`catches ${plugin.name} with the ${caughtBy} check`, async () => {
      expect(await outcome(plugin, caughtBy)).toMatch(why);
    });
  }

  it("passes a correct third-party-style plugin on every check", async () => {
    const good = base("acme/abs-score", abs);
    for (const c of scorerConformance(good)) await c.run();
  });

  it("turns a listed expected failure into a pass and shows the reason in the name", async () => {
    const broken = base("position-dependent", (ctx) =>
      ctx.weight.data.map((x, k) => Math.abs(x) + (k % ctx.weight.cols)),
    );
    const checks = scorerConformance(broken, {
      expectedFailures: { "permutation-equivariant": "uses column position" },
    });
    const c = checks.find((x) => x.id === "permutation-equivariant")!;
    expect(c.name).toBe(
      "position-dependent conformance: is permutation-equivariant under a column permutation [expected failure: uses column position]",
    );
    await c.run();
  });

  it("fails an expected failure that passes, so the list stays honest", async () => {
    const checks = scorerConformance(magnitude(), { expectedFailures: { deterministic: "flaky?" } });
    await expect(checks.find((x) => x.id === "deterministic")!.run()).rejects.toThrow(
      /listed in expectedFailures \(flaky\?\) but passed/,
    );
  });

  it("rejects unknown check ids in expectedFailures", () => {
    expect(() => scorerConformance(magnitude(), { expectedFailures: { speed: "x" } as never })).toThrow(
      RangeError,
    );
  });

  it("uses caller-supplied fixture inputs", async () => {
    // A scorer that only makes sense when W⁰ = W: movement is then 0 everywhere.
    const needsEqual = base(
      "acme/zero-movement",
      (ctx) => {
        const pre = ctx.preWeight!.data;
        return ctx.weight.data.map((x, k) => {
          if (x !== pre[k]) return Number.NaN;
          return Math.abs(x);
        });
      },
      { requires: ["pre-weights"] },
    );
    expect(await outcome(needsEqual, "finite-scores")).toMatch(/^fail/);
    const checks = scorerConformance(needsEqual, {
      inputs: (rows, cols, r) => {
        const data = Float32Array.from({ length: rows * cols }, () => r.normal());
        return { weight: { rows, cols, data }, preWeight: { rows, cols, data: data.slice() } };
      },
    });
    for (const c of checks) await c.run();
  });
});
