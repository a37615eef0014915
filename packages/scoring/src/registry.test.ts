import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import type { ScorerPlugin } from "./contract.ts";
import { createScorerRegistry } from "./registry.ts";
import { builtinScorers } from "./scorers/builtins.ts";
import { magnitude } from "./scorers/magnitude.ts";
import { wanda } from "./scorers/wanda.ts";

const messageOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return isPruneError(e) ? `${e.code}: ${e.message}` : `${(e as Error).name}: ${(e as Error).message}`;
  }
  return "no error";
};

describe("createScorerRegistry", () => {
  it("registers, looks up and lists plugins in order", () => {
    const reg = createScorerRegistry([magnitude()]);
    reg.register(wanda());
    expect(reg.get("wanda").requires).toEqual(["activation-norms"]);
    expect(reg.has("magnitude")).toBe(true);
    expect(reg.has("ria")).toBe(false);
    expect(reg.list().map((p) => p.name)).toEqual(["magnitude", "wanda"]);
  });

  it("holds every built-in", () => {
    expect(
      createScorerRegistry(builtinScorers())
        .list()
        .map((p) => p.name),
    ).toEqual(["magnitude", "negative-magnitude", "wanda", "movement", "ria", "mama"]);
  });

  it("rejects a duplicate name with SCORER_DUPLICATE", () => {
    const reg = createScorerRegistry([magnitude()]);
    expect(messageOf(() => reg.register(magnitude()))).toMatchInlineSnapshot(
      `"SCORER_DUPLICATE: scorer magnitude: a scorer with this name is already registered. Expected a unique name, got a duplicate."`,
    );
  });

  it("rejects another apiVersion with SCORER_API_UNSUPPORTED", () => {
    const v2 = { ...magnitude(), name: "acme/next", apiVersion: 2 } as unknown as ScorerPlugin;
    expect(messageOf(() => createScorerRegistry([v2]))).toMatchInlineSnapshot(
      `"SCORER_API_UNSUPPORTED: scorer acme/next: apiVersion is not supported by this @mama-prune/scoring. Expected 1, got 2."`,
    );
    const rowwise = { ...magnitude(), granularity: "row" } as unknown as ScorerPlugin;
    expect(messageOf(() => createScorerRegistry([rowwise]))).toMatch(/^SCORER_API_UNSUPPORTED.*granularity/);
  });

  it("rejects malformed metadata with a TypeError", () => {
    expect(messageOf(() => createScorerRegistry([{ ...magnitude(), name: "Not Kebab" }]))).toMatch(
      /^TypeError: scorer Not Kebab: invalid plugin: name must be kebab-case/,
    );
    const badInput = { ...magnitude(), requires: ["hessian"] } as unknown as ScorerPlugin;
    expect(messageOf(() => createScorerRegistry([badInput]))).toMatch(/unknown input.*got hessian/);
  });

  it("names the known scorers when a lookup fails", () => {
    const reg = createScorerRegistry([magnitude(), wanda()]);
    expect(messageOf(() => reg.get("sparsegpt"))).toMatchInlineSnapshot(
      `"SCORER_NOT_FOUND: scorer registry: no scorer named "sparsegpt". Expected one of magnitude, wanda, got "sparsegpt"."`,
    );
    expect(messageOf(() => createScorerRegistry().get("x"))).toMatch(/\(none registered\)/);
  });
});
