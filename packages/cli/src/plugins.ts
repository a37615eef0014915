// ---- Third-party plugins (scorers and whole methods), loaded by package name (or path) and checked by the registries ----

import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { PruneError } from "@mama-prune/core";
import {
  builtinMethods,
  createMethodRegistry,
  isMethodDefinition,
  type MethodRegistry,
  type PruneMethodDefinition,
} from "@mama-prune/pipeline";
import {
  builtinScorers,
  createScorerRegistry,
  type ScorerPlugin,
  type ScorerRegistry,
} from "@mama-prune/scoring";
import type { PluginSpec } from "./recipe.ts";

function isPath(spec: string): boolean {
  return spec.startsWith(".") || isAbsolute(spec);
}

/** Import a plugin module by package name (resolved from `baseDir`) or path; SCORER_NOT_FOUND when it cannot be loaded. */
export async function importPlugin(spec: string, baseDir: string): Promise<Record<string, unknown>> {
  let url: string;
  if (isPath(spec)) {
    url = pathToFileURL(resolve(baseDir, spec)).href;
  } else {
    // Resolve from the user's project (baseDir), not from wherever the CLI is installed.
    try {
      url = pathToFileURL(createRequire(join(baseDir, "package.json")).resolve(spec)).href;
    } catch {
      url = spec; // e.g. installed next to the CLI (global install): let import() resolve it.
    }
  }
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
    // A TypeScript plugin on a Node without type stripping (Node 20): say what to do about it.
    const expected =
      (e as { code?: unknown }).code === "ERR_UNKNOWN_FILE_EXTENSION"
        ? `compiled ESM JavaScript (build the plugin, e.g. with tsup: see @mama-prune/scoring's README, "Writing a plugin")`
        : "an installed package or module exporting a scorer factory";
    throw new PruneError(
      "SCORER_NOT_FOUND",
      `plugin ${JSON.stringify(spec)}: cannot be loaded from ${baseDir}. Expected ${expected}, got ${msg.slice(0, 160)}.`,
      { cause: e },
    );
  }
}

/** What one plugin module provides: scorers (from a factory) and/or whole methods. */
export interface LoadedPlugin {
  readonly scorers: readonly ScorerPlugin[];
  readonly methods: readonly PruneMethodDefinition[];
}

/** The module exports that hold methods (a definition, a list, or a factory returning either). */
const METHOD_EXPORTS = ["method", "methods"] as const;

function quoted(spec: PluginSpec): string {
  return JSON.stringify(spec.package);
}

/** Classify what an export (or a factory's result) is: a scorer, one method, or a list of methods. */
function classify(value: unknown, spec: PluginSpec, what: string): LoadedPlugin {
  if (Array.isArray(value) && value.length > 0 && value.every(isMethodDefinition)) {
    return { scorers: [], methods: value };
  }
  if (isMethodDefinition(value)) return { scorers: [], methods: [value] };
  if (typeof value === "object" && value !== null) return { scorers: [value as ScorerPlugin], methods: [] };
  throw new PruneError(
    "SCORER_API_UNSUPPORTED",
    `plugin ${quoted(spec)}: ${what} did not return a scorer or a method. Expected a ScorerPlugin object or a method definition (defineMethod), got ${value === null ? "null" : typeof value}.`,
  );
}

async function fromExport(
  mod: Record<string, unknown>,
  name: string,
  spec: PluginSpec,
): Promise<LoadedPlugin> {
  const value = mod[name];
  if (typeof value === "function") {
    return classify(await (value as (o?: unknown) => unknown)(spec.options), spec, `factory ${name}()`);
  }
  if (
    isMethodDefinition(value) ||
    (Array.isArray(value) && value.length > 0 && value.every(isMethodDefinition))
  ) {
    return classify(value, spec, `export ${name}`);
  }
  throw new PruneError(
    "SCORER_NOT_FOUND",
    `plugin ${quoted(spec)}: export ${JSON.stringify(name)} is not a function. Expected a scorer factory or a method definition, got ${value === null ? "null" : typeof value}.`,
  );
}

/**
 * Load a plugin module: its scorer and/or its methods.
 *
 * - With `spec.export`: that export, a factory (called with `spec.options`) returning a
 *   `ScorerPlugin`, a method definition or a list of them; or a definition (list) itself.
 * - Without: the methods of the `method` / `methods` exports (a definition, a list, or a factory
 *   called with `spec.options`), and the scorer of the `scorer` export, else of the only other
 *   exported function (when there are several and no methods, an `export` key is required).
 *
 * @throws PruneError SCORER_NOT_FOUND when the module cannot be imported or has nothing suitable;
 *   SCORER_API_UNSUPPORTED when a factory returns neither a scorer nor a method.
 * @example
 * const { scorers, methods } = await loadPluginModule({ package: "@acme/prune-method" }, process.cwd());
 */
export async function loadPluginModule(spec: PluginSpec, baseDir: string): Promise<LoadedPlugin> {
  const mod = await importPlugin(spec.package, baseDir);
  if (spec.export !== undefined) return await fromExport(mod, spec.export, spec);
  const methods: PruneMethodDefinition[] = [];
  for (const k of METHOD_EXPORTS) {
    if (mod[k] !== undefined) {
      const got = await fromExport(mod, k, spec);
      if (got.scorers.length > 0) {
        throw new PruneError(
          "SCORER_API_UNSUPPORTED",
          `plugin ${quoted(spec)}: export ${k} is not a method. Expected a method definition (defineMethod) or a list of them, got a scorer.`,
        );
      }
      methods.push(...got.methods);
    }
  }
  const fns = Object.entries(mod).filter(
    ([k, v]) => typeof v === "function" && !(METHOD_EXPORTS as readonly string[]).includes(k),
  );
  let name: string | undefined;
  if (typeof mod["scorer"] === "function") name = "scorer";
  else if (fns.length === 1) name = fns[0]![0];
  else if (methods.length === 0) {
    throw new PruneError(
      "SCORER_NOT_FOUND",
      `plugin ${quoted(spec)}: which export is the scorer factory? Expected an "export" key naming one of ${fns.map(([k]) => k).join(", ") || "(no functions exported)"}, got none.`,
    );
  }
  const scorers = name === undefined ? [] : (await fromExport(mod, name, spec)).scorers;
  if (name !== undefined && scorers.length === 0 && methods.length === 0) {
    throw new PruneError(
      "SCORER_API_UNSUPPORTED",
      `plugin ${quoted(spec)}: factory ${name}() did not return a scorer. Expected a ScorerPlugin object, got a method definition (export it as "method" or name it with an "export" key).`,
    );
  }
  return { scorers, methods };
}

/**
 * Load a scorer plugin module and build its scorer (see {@link loadPluginModule}; a module that only
 * provides methods has no scorer).
 *
 * @throws PruneError as {@link loadPluginModule}; SCORER_NOT_FOUND when the module has no scorer.
 * @example
 * const scorer = await loadPlugin({ package: "@acme/prune-scorer-sqrt" }, process.cwd());
 */
export async function loadPlugin(spec: PluginSpec, baseDir: string): Promise<ScorerPlugin> {
  const { scorers } = await loadPluginModule(spec, baseDir);
  const s = scorers[0];
  if (s === undefined) {
    throw new PruneError(
      "SCORER_NOT_FOUND",
      `plugin ${quoted(spec)}: provides no scorer. Expected a scorer factory export, got only methods.`,
    );
  }
  return s;
}

/** Scorer and method registries: the built-ins plus every plugin's, and what the plugins added. */
export interface PluginRegistries {
  readonly scorers: ScorerRegistry;
  readonly methods: MethodRegistry;
  /** The plugins' own scorers and methods, in load order. */
  readonly fromPlugins: LoadedPlugin;
}

/**
 * Registries of the built-in scorers and methods plus the given plugins' ones, each checked by
 * `register()` (API version, metadata, duplicate names). Malformed scorer metadata (a TypeError
 * from the scoring registry) becomes SCORER_API_UNSUPPORTED naming the package.
 *
 * @throws PruneError SCORER_API_UNSUPPORTED, SCORER_DUPLICATE, and everything {@link loadPluginModule} throws.
 * @example
 * const { scorers, methods } = await loadPlugins([{ package: "./my-method.ts" }], process.cwd());
 */
export async function loadPlugins(specs: readonly PluginSpec[], baseDir: string): Promise<PluginRegistries> {
  const scorers = createScorerRegistry(builtinScorers());
  const methods = createMethodRegistry(builtinMethods());
  const added = { scorers: [] as ScorerPlugin[], methods: [] as PruneMethodDefinition[] };
  for (const spec of specs) {
    const loaded = await loadPluginModule(spec, baseDir);
    for (const plugin of loaded.scorers) {
      try {
        scorers.register(plugin);
      } catch (e) {
        if (e instanceof TypeError) {
          throw new PruneError("SCORER_API_UNSUPPORTED", `plugin ${quoted(spec)}: ${e.message}`, {
            cause: e,
          });
        }
        throw e;
      }
      added.scorers.push(plugin);
    }
    for (const m of loaded.methods) {
      methods.register(m);
      added.methods.push(m);
    }
  }
  return { scorers, methods, fromPlugins: added };
}

/**
 * A registry of the built-in scorers plus the given plugins' scorers (see {@link loadPlugins}).
 *
 * @throws PruneError as {@link loadPlugins}.
 * @example
 * const registry = await pluginRegistry([{ package: "./my-scorer.ts" }], process.cwd());
 */
export async function pluginRegistry(specs: readonly PluginSpec[], baseDir: string): Promise<ScorerRegistry> {
  return (await loadPlugins(specs, baseDir)).scorers;
}
