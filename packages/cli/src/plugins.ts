// ---- Third-party scorer plugins, loaded by package name (or path) and checked by the registry ----

import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { PruneError } from "@mama-prune/core";
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

async function importPlugin(spec: string, baseDir: string): Promise<Record<string, unknown>> {
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
    throw new PruneError(
      "SCORER_NOT_FOUND",
      `plugin ${JSON.stringify(spec)}: cannot be loaded from ${baseDir}. Expected an installed package or module exporting a scorer factory, got ${msg.slice(0, 160)}.`,
      { cause: e },
    );
  }
}

/**
 * Load a scorer plugin module and build its scorer: `spec.export` names the factory; without it the
 * module's `scorer` export is used, else its only exported function. The factory is called with
 * `spec.options` (or nothing) and must return a {@link ScorerPlugin}.
 *
 * @throws PruneError SCORER_NOT_FOUND when the module cannot be imported or has no suitable factory;
 *   SCORER_API_UNSUPPORTED when the factory does not return a plugin object.
 * @example
 * const scorer = await loadPlugin({ package: "@acme/prune-scorer-sqrt" }, process.cwd());
 */
export async function loadPlugin(spec: PluginSpec, baseDir: string): Promise<ScorerPlugin> {
  const mod = await importPlugin(spec.package, baseDir);
  const fns = Object.entries(mod).filter(([, v]) => typeof v === "function");
  let name: string;
  if (spec.export !== undefined) name = spec.export;
  else if (typeof mod["scorer"] === "function") name = "scorer";
  else if (fns.length === 1) name = fns[0]![0];
  else {
    throw new PruneError(
      "SCORER_NOT_FOUND",
      `plugin ${JSON.stringify(spec.package)}: which export is the scorer factory? Expected an "export" key naming one of ${fns.map(([k]) => k).join(", ") || "(no functions exported)"}, got none.`,
    );
  }
  const factory = mod[name];
  if (typeof factory !== "function") {
    throw new PruneError(
      "SCORER_NOT_FOUND",
      `plugin ${JSON.stringify(spec.package)}: export ${JSON.stringify(name)} is not a function. Expected a scorer factory, got ${typeof factory}.`,
    );
  }
  const plugin: unknown = await (factory as (o?: unknown) => unknown)(spec.options);
  if (typeof plugin !== "object" || plugin === null) {
    throw new PruneError(
      "SCORER_API_UNSUPPORTED",
      `plugin ${JSON.stringify(spec.package)}: factory ${name}() did not return a scorer. Expected a ScorerPlugin object, got ${plugin === null ? "null" : typeof plugin}.`,
    );
  }
  return plugin as ScorerPlugin;
}

/**
 * A registry of the built-in scorers plus the given plugins, each checked by
 * `@mama-prune/scoring`'s `register()` (API version, granularity, metadata, duplicate names).
 * Malformed metadata (a TypeError from the registry) becomes SCORER_API_UNSUPPORTED naming the package.
 *
 * @throws PruneError SCORER_API_UNSUPPORTED, SCORER_DUPLICATE, and everything {@link loadPlugin} throws.
 * @example
 * const registry = await pluginRegistry([{ package: "./my-scorer.ts" }], process.cwd());
 */
export async function pluginRegistry(specs: readonly PluginSpec[], baseDir: string): Promise<ScorerRegistry> {
  const registry = createScorerRegistry(builtinScorers());
  for (const spec of specs) {
    const plugin = await loadPlugin(spec, baseDir);
    try {
      registry.register(plugin);
    } catch (e) {
      if (e instanceof TypeError) {
        throw new PruneError(
          "SCORER_API_UNSUPPORTED",
          `plugin ${JSON.stringify(spec.package)}: ${e.message}`,
          { cause: e },
        );
      }
      throw e;
    }
  }
  return registry;
}
