import { isPruneError, PRUNE_ERROR_CODES, type PruneErrorCode, throwIfAborted } from "@mama-prune/core";
import { LINEAR_NAMES } from "@mama-prune/model";
import { magnitude, type ScoreContext, type ScorerPlugin } from "@mama-prune/scoring";
import { describe, expect, it } from "vitest";
import { goldenInputs } from "../test/golden-cases.ts";
import { defineMethod, type MethodDefinitionInput } from "./method.ts";
import { createMethodRegistry } from "./method-registry.ts";
import {
  BUILTIN_METHODS,
  builtinMethods,
  METHOD_LABELS,
  methodNeeds,
  PRUNE_METHODS,
  resolveMethod,
} from "./methods.ts";
import { prune } from "./prune.ts";

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isPruneError(e) ? `${e.code}: ${e.message}` : `not a PruneError: ${String(e)}`;
  }
  return "no error";
}

/** A plugin scorer: |W|·‖X_j‖^p (p = 1 is Wanda). */
function activationPower(p: number): ScorerPlugin {
  return {
    name: "acme/activation-power",
    apiVersion: 1,
    granularity: "element",
    requires: ["activation-norms"],
    score(ctx: ScoreContext): Float32Array {
      throwIfAborted(ctx.signal, "acme/activation-power");
      const { rows, cols, data } = ctx.weight;
      const norms = ctx.activationNorms!;
      const out = new Float32Array(rows * cols);
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < cols; j++) out[i * cols + j] = Math.abs(data[i * cols + j]!) * norms[j]! ** p;
      return out;
    },
  };
}

const PLUGIN: MethodDefinitionInput<{ power?: number }> = {
  name: "acme/power-refit",
  label: "acme + refit",
  scorer: (env) => activationPower(env.options?.power ?? 1),
  group: "row",
  redistribution: "refit",
  defaultOptions: { power: 1 },
};

describe("defineMethod", () => {
  it("validates and freezes a definition, filling in apiVersion", () => {
    const m = defineMethod(PLUGIN);
    expect(m.apiVersion).toBe(1);
    expect(Object.isFrozen(m)).toBe(true);
    expect(m.name).toBe("acme/power-refit");
  });

  it.each([
    [{ ...PLUGIN, name: "Bad Name" }, /name must be kebab-case/],
    [{ ...PLUGIN, label: "" }, /label must be a non-empty string/],
    [{ ...PLUGIN, scorer: "wanda" }, /scorer must be "adaptive" or a factory/],
    [{ ...PLUGIN, group: "n:m" }, /group must be "matrix", "row", "block"/],
    [{ ...PLUGIN, redistribution: "obs" }, /redistribution is unknown/],
    [{ ...PLUGIN, scorer: "adaptive" }, /scorer "adaptive" needs redistribution "sparsegpt"/],
  ])("refuses %o", (def, re) => {
    const msg = codeOf(() => defineMethod(def as MethodDefinitionInput));
    expect(msg).toMatch(/^SCORER_API_UNSUPPORTED: method .*: invalid method definition\./);
    expect(msg).toMatch(re);
  });
});

describe("createMethodRegistry", () => {
  it("holds the 7 built-ins in table order, looks up by name, lists known names on a miss", () => {
    const reg = createMethodRegistry(builtinMethods());
    expect(reg.list().map((m) => m.name)).toEqual([...PRUNE_METHODS]);
    expect(PRUNE_METHODS).toEqual([
      "magnitude",
      "neg-magnitude",
      "wanda",
      "sparsegpt",
      "movement",
      "ria",
      "mama",
    ]);
    expect(reg.has("wanda")).toBe(true);
    expect(reg.has("acme/power-refit")).toBe(false);
    expect(reg.get("sparsegpt").scorer).toBe("adaptive");
    expect(codeOf(() => reg.get("magic"))).toBe(
      'SCORER_NOT_FOUND: method registry: no method named "magic". Expected one of magnitude, neg-magnitude, wanda, sparsegpt, movement, ria, mama, got "magic".',
    );
    expect(codeOf(() => createMethodRegistry().get("x"))).toMatch(/Expected one of \(none registered\)/);
  });

  it("registers a plugin method, refuses duplicates, other API versions and invalid definitions", () => {
    const reg = createMethodRegistry(BUILTIN_METHODS);
    const m = defineMethod(PLUGIN);
    reg.register(m);
    expect(reg.get("acme/power-refit")).toBe(m);
    expect(reg.list().at(-1)).toBe(m);
    expect(codeOf(() => reg.register(m))).toBe(
      "SCORER_DUPLICATE: method acme/power-refit: a method with this name is already registered. Expected a unique name, got a duplicate.",
    );
    expect(codeOf(() => reg.register({ ...m, name: "wanda" }))).toMatch(/^SCORER_DUPLICATE: method wanda/);
    expect(codeOf(() => reg.register({ ...m, apiVersion: 2 } as never))).toMatch(
      /^SCORER_API_UNSUPPORTED: method acme\/power-refit: apiVersion .*Expected 1 .*got 2\./,
    );
    expect(codeOf(() => reg.register({ ...PLUGIN } as never))).toMatch(/got undefined\./);
    expect(codeOf(() => reg.register({ ...m, name: "acme/x", group: "cols" } as never))).toMatch(
      /^SCORER_API_UNSUPPORTED: method acme\/x: invalid method definition\. group must be/,
    );
    expect(reg.list()).toHaveLength(8);
  });

  it("every error code used here is one of core's codes", () => {
    for (const c of ["SCORER_NOT_FOUND", "SCORER_DUPLICATE", "SCORER_API_UNSUPPORTED"] as PruneErrorCode[]) {
      expect(PRUNE_ERROR_CODES).toContain(c);
    }
  });
});

describe("built-in methods", () => {
  it("resolve to the documented scorer, group and redistribution; labels come from the definitions", () => {
    const table = PRUNE_METHODS.map((m) => {
      const r = resolveMethod(m);
      return [m, r.scorer?.name ?? "adaptive", r.group, r.redistribution, r.label];
    });
    expect(table).toEqual([
      ["magnitude", "magnitude", "matrix", "none", "Magnitude"],
      ["neg-magnitude", "negative-magnitude", "matrix", "none", "by -Weights"],
      ["wanda", "wanda", "row", "none", "Wanda"],
      ["sparsegpt", "adaptive", "block", "sparsegpt", "SparseGPT"],
      ["movement", "movement", "matrix", "none", "Movement"],
      ["ria", "ria", "matrix", "none", "RIA"],
      ["mama", "mama", "row", "refit", "MAMA"],
    ]);
    expect(Object.entries(METHOD_LABELS)).toEqual(table.map((r) => [r[0], r[4]]));
    // MAMA: the movement term only when asked for (a pre-trained checkpoint alone does not turn it
    // on); the group follows given options; its own per-linear procedure unless overridden.
    expect(resolveMethod("mama").scorer?.requires).not.toContain("pre-weights");
    expect(resolveMethod("mama", { hasPreCheckpoint: true }).scorer?.requires).not.toContain("pre-weights");
    expect(resolveMethod("mama", { mama: { useMovement: true } }).scorer?.requires).toContain("pre-weights");
    expect(resolveMethod("mama").linear).toBeTypeOf("function");
    expect(resolveMethod("mama", { redistribution: "none" }).linear).toBeUndefined();
    expect(resolveMethod("wanda").linear).toBeUndefined();
    expect(resolveMethod("mama", { mama: { group: "matrix" } }).group).toBe("matrix");
  });

  it("methodNeeds derives calibration and W⁰ needs from the scorer and the redistribution", () => {
    const needs = (m: string, o = {}) => methodNeeds(resolveMethod(m, o));
    expect(PRUNE_METHODS.filter((m) => !needs(m).calibration)).toEqual([
      "magnitude",
      "neg-magnitude",
      "movement",
    ]);
    expect(PRUNE_METHODS.filter((m) => needs(m, { hasPreCheckpoint: true }).preWeights)).toEqual([
      "movement",
    ]);
    expect(needs("magnitude", { redistribution: "refit" }).calibration).toBe(true);
    expect(needs("magnitude", { redistribution: "mean" }).stats.sum).toBe(true);
    expect(needs("sparsegpt").stats).toEqual({
      sqNorm: false,
      weightedSqNorm: false,
      sum: false,
      gram: true,
    });
    expect(methodNeeds(resolveMethod("magnitude"), { allocation: { kind: "owl" } }).calibration).toBe(true);
    expect(methodNeeds(resolveMethod(defineMethod(PLUGIN))).stats).toEqual({
      sqNorm: true,
      weightedSqNorm: false,
      sum: false,
      gram: true,
    });
  });

  it("refuses an override of an adaptive method's scorer and a factory returning a bad scorer", () => {
    expect(codeOf(() => resolveMethod("sparsegpt", { scorer: magnitude() }))).toMatch(
      /^RECIPE_INVALID: prune: option scorer cannot be combined with method sparsegpt/,
    );
    const bad = defineMethod({ ...PLUGIN, name: "acme/bad", scorer: () => ({ name: "x" }) as never });
    expect(codeOf(() => resolveMethod(bad))).toMatch(
      /^SCORER_API_UNSUPPORTED: method acme\/bad: its scorer factory returned an invalid scorer\./,
    );
  });
});

describe("a plugin method through prune()", () => {
  const weightsOf = (m: { getLinearWeight(l: number, n: (typeof LINEAR_NAMES)[number]): Float32Array }) =>
    [0, 1, 2].flatMap((l) => LINEAR_NAMES.map((n) => Array.from(m.getLinearWeight(l, n))));

  it("by name from a registry and as a value: equals the built-in scorer with the same group and redistribution", async () => {
    const registry = createMethodRegistry(builtinMethods());
    registry.register(defineMethod(PLUGIN));
    const { checkpoint, calibration } = await goldenInputs();
    const byName = await prune({
      checkpoint,
      method: "acme/power-refit",
      registry,
      sparsity: 0.5,
      calibration,
    });
    expect(byName.report.method).toBe("acme/power-refit");
    expect(byName.report.scorer).toBe("acme/activation-power");
    expect(byName.report.redistribution).toBe("refit");
    expect(byName.report.linears.every((r) => r.redistribution === "refit")).toBe(true);
    expect(byName.report.overallSparsity).toBe(0.5);
    // p = 1 is Wanda's score: the same run as wanda with the refit.
    const ref = await prune({
      checkpoint,
      method: "wanda",
      redistribution: "refit",
      sparsity: 0.5,
      calibration,
    });
    expect(weightsOf(byName.model)).toEqual(weightsOf(ref.model));
    // As a value, with options: p = 0.5 differs from Wanda.
    const value = await prune({
      checkpoint,
      method: defineMethod(PLUGIN),
      methodOptions: { power: 0.5 },
      sparsity: 0.5,
      calibration,
    });
    expect(weightsOf(value.model)).not.toEqual(weightsOf(ref.model));
    expect(value.report.overallSparsity).toBe(0.5);
    // Unknown without the registry; needs calibration (derived from its scorer).
    await expect(
      prune({ checkpoint, method: "acme/power-refit", sparsity: 0.5, calibration }),
    ).rejects.toThrow(/option method is unknown\. Expected one of magnitude, .*got "acme\/power-refit"/);
    await expect(prune({ checkpoint, method: "acme/power-refit", registry, sparsity: 0.5 })).rejects.toThrow(
      /option calibration is required by method acme\/power-refit/,
    );
  });

  it("a data-free plugin method with a plain scorer equals magnitude", async () => {
    const { checkpoint } = await goldenInputs();
    const mine = defineMethod({
      name: "my-magnitude",
      label: "Mine",
      scorer: () => magnitude(),
      group: "matrix",
      redistribution: "none",
    });
    const a = await prune({ checkpoint, method: mine, sparsity: 0.7 });
    const b = await prune({ checkpoint, method: "magnitude", sparsity: 0.7 });
    expect(weightsOf(a.model)).toEqual(weightsOf(b.model));
    expect(a.report.calibration).toBeUndefined();
  });
});
