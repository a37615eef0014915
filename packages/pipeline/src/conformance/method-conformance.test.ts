import { magnitude, wanda } from "@mama-prune/scoring";
import { describe, expect, it } from "vitest";
import { defineMethod } from "../method.ts";
import { BUILTIN_METHODS } from "../methods.ts";
import { METHOD_CONFORMANCE_CHECKS, methodConformance } from "./index.ts";

describe.each(BUILTIN_METHODS.map((m) => [m.name, m] as const))("built-in %s", (_name, method) => {
  for (const c of methodConformance(method)) it(c.name, c.run);
});

describe("methodConformance catches broken methods", () => {
  const failing = async (run: () => Promise<void>): Promise<string> => {
    try {
      await run();
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    return "passed";
  };
  const check = (m: Parameters<typeof methodConformance>[0], id: string) =>
    methodConformance(m).find((c) => c.id === id)!.run;

  it("a scorer returning the wrong number of scores fails the runs check", async () => {
    const bad = defineMethod({
      name: "acme/short",
      label: "short",
      scorer: () => ({ ...magnitude(), name: "acme/short", score: () => new Float32Array(3) }),
      group: "row",
      redistribution: "none",
    });
    expect(await failing(check(bad, "runs"))).toMatch(
      /pruneLinear threw PruneError: .*wrong number of scores/,
    );
  });

  it("a non-deterministic scorer fails the determinism check", async () => {
    let calls = 0;
    const flaky = defineMethod({
      name: "acme/flaky",
      label: "flaky",
      scorer: () => ({
        ...magnitude(),
        name: "acme/flaky",
        score: (ctx) => {
          calls++;
          const out = new Float32Array(ctx.weight.data.length);
          for (let i = 0; i < out.length; i++) out[i] = Math.abs(ctx.weight.data[i]!) + ((i * calls) % 7);
          return out;
        },
      }),
      group: "matrix",
      redistribution: "none",
    });
    expect(await failing(check(flaky, "deterministic"))).toMatch(/two runs on identical inputs differ/);
  });

  it("a scorer that ignores the abort signal is still stopped (runScorer checks it); a mutating one is caught", async () => {
    const ignoring = defineMethod({
      name: "acme/ignore-abort",
      label: "x",
      scorer: () => ({
        ...wanda(),
        name: "acme/ignore-abort",
        score: (ctx) => new Float32Array(ctx.weight.data.length),
      }),
      group: "row",
      redistribution: "none",
    });
    expect(await failing(check(ignoring, "abort"))).toBe("passed");
    const mutating = defineMethod({
      name: "acme/mutating",
      label: "x",
      scorer: () => ({
        ...magnitude(),
        name: "acme/mutating",
        score: (ctx) => {
          (ctx.weight.data as Float32Array)[0] = 42;
          return new Float32Array(ctx.weight.data.length);
        },
      }),
      group: "matrix",
      redistribution: "none",
    });
    expect(await failing(check(mutating, "no-mutation"))).toMatch(/the weight was modified/);
  });

  it("an invalid definition fails the definition check; expectedFailures stays honest", async () => {
    const raw = {
      ...defineMethod({
        name: "acme/x",
        label: "x",
        scorer: () => magnitude(),
        group: "row",
        redistribution: "none",
      }),
    };
    expect(await failing(check({ ...raw, apiVersion: 2 } as never, "definition"))).toMatch(/apiVersion/);
    const listed = methodConformance(BUILTIN_METHODS[0]!, { expectedFailures: { abort: "claimed" } });
    expect(await failing(listed.find((c) => c.id === "abort")!.run)).toMatch(
      /listed in expectedFailures .* but passed/,
    );
    expect(() =>
      methodConformance(BUILTIN_METHODS[0]!, { expectedFailures: { nope: "x" } as never }),
    ).toThrow(RangeError);
    expect(METHOD_CONFORMANCE_CHECKS.map((c) => c.id)).toEqual([
      "definition",
      "runs",
      "sparsity",
      "n-m",
      "deterministic",
      "no-mutation",
      "abort",
    ]);
  });
});
