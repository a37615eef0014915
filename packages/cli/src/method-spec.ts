// ---- A recipe's / the flags' method spec, resolved through the plugin registries ----

import { methodNeeds, type PruneOptions, type ResolvedMethod, resolveMethod } from "@mama-prune/pipeline";
import type { PluginRegistries } from "./plugins.ts";
import type { AllocationSpec, MethodSpec } from "./recipe.ts";

/**
 * Resolve a method spec (a built-in or plugin method name, plus overrides) like `prune` will.
 *
 * @throws PruneError SCORER_NOT_FOUND (unknown method or scorer, listing the known names),
 *   RECIPE_INVALID (an override the method refuses), SCORER_API_UNSUPPORTED.
 */
export function resolveSpec(spec: MethodSpec, registry: PluginRegistries): ResolvedMethod {
  return resolveMethod(spec.name, {
    registry: registry.methods,
    ...(spec.scorer !== undefined ? { scorer: registry.scorers.get(spec.scorer) } : {}),
    ...(spec.group !== undefined ? { group: spec.group } : {}),
    ...(spec.redistribution !== undefined ? { redistribution: spec.redistribution } : {}),
    ...(spec.mama !== undefined ? { mama: spec.mama } : {}),
  });
}

/**
 * True when the method needs calibration windows: the pipeline's own answer (`methodNeeds`, from
 * the method's scorer inputs and redistribution), with OWL always needing them.
 */
export function needsCalibration(
  spec: MethodSpec,
  registry: PluginRegistries,
  allocation?: AllocationSpec,
): boolean {
  return methodNeeds(resolveSpec(spec, registry), allocation !== undefined ? { allocation } : {}).calibration;
}

/** The prune options of a method spec: the method registry, and the overrides. */
export function methodOptions(
  spec: MethodSpec,
  registry: PluginRegistries,
): Partial<Omit<PruneOptions, "method" | "sparsity" | "model">> {
  return {
    registry: registry.methods,
    ...(spec.scorer !== undefined ? { scorer: registry.scorers.get(spec.scorer) } : {}),
    ...(spec.group !== undefined ? { group: spec.group } : {}),
    ...(spec.redistribution !== undefined ? { redistribution: spec.redistribution } : {}),
    ...(spec.mama !== undefined ? { mama: spec.mama } : {}),
    ...(spec.damping !== undefined ? { damping: spec.damping } : {}),
    ...(spec.blockSize !== undefined ? { blockSize: spec.blockSize } : {}),
  };
}

/** Column label: the spec's `label`, else the method definition's label (+ the scorer override). */
export function methodLabel(spec: MethodSpec, registry: PluginRegistries): string {
  const base = registry.methods.has(spec.name) ? registry.methods.get(spec.name).label : spec.name;
  return spec.label ?? (spec.scorer !== undefined ? `${base} (${spec.scorer})` : base);
}
