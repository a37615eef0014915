// ---- The small validators recipes are checked with: each error names the key path ----

import { PruneError } from "@mama-prune/core";
import type { PluginSpec } from "./recipe.ts";

export type Obj = Record<string, unknown>;

export function show(v: unknown): string {
  let s: string;
  if (typeof v === "string") s = JSON.stringify(v);
  else if (v === undefined) s = "nothing";
  else if (typeof v === "number" || typeof v === "boolean" || v === null) s = String(v);
  else if (Array.isArray(v)) s = "a list";
  else s = "an object";
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export function fail(path: string, expected: string, got: unknown): never {
  throw new PruneError("RECIPE_INVALID", `${path}: expected ${expected}, got ${show(got)}.`);
}

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function obj(v: unknown, path: string, keys: readonly string[]): Obj {
  if (!isObj(v)) fail(path, "a mapping", v);
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) {
      throw new PruneError(
        "RECIPE_INVALID",
        `${path}.${k}: unknown key. Expected one of ${keys.join(", ")}, got ${JSON.stringify(k.slice(0, 40))}.`,
      );
    }
  }
  return v;
}

export function str(v: unknown, path: string): string {
  if (typeof v !== "string" || v.trim() === "") fail(path, "a non-empty string", v);
  return v;
}

export function int(v: unknown, path: string, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) fail(path, `an integer ≥ ${min}`, v);
  return v;
}

export function intIn(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    fail(path, `an integer in [${min}, ${max}]`, v);
  }
  return v;
}

export function num(v: unknown, path: string, ok: (x: number) => boolean, expected: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) fail(path, expected, v);
  return v;
}

export function bool(v: unknown, path: string): boolean {
  if (typeof v !== "boolean") fail(path, "true or false", v);
  return v;
}

export function oneOf<T extends string>(v: unknown, path: string, options: readonly T[]): T {
  if (typeof v !== "string" || !(options as readonly string[]).includes(v)) {
    fail(path, `one of ${options.join(", ")}`, v);
  }
  return v as T;
}

/** A plugin (or verifier) package: a string, or `{ package, export?, options? }`. */
export function pluginSpec(v: unknown, path: string): PluginSpec {
  if (typeof v === "string") return { package: str(v, path) };
  const o = obj(v, path, ["package", "export", "options"]);
  const out: { -readonly [K in keyof PluginSpec]: PluginSpec[K] } = {
    package: str(o["package"], `${path}.package`),
  };
  if (o["export"] !== undefined) out.export = str(o["export"], `${path}.export`);
  if (o["options"] !== undefined) {
    if (!isObj(o["options"])) fail(`${path}.options`, "a mapping", o["options"]);
    out.options = o["options"];
  }
  return out;
}
