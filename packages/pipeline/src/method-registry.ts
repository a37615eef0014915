// ---- A host-owned set of pruning methods, looked up by name ----

import { PruneError } from "@mama-prune/core";
import { METHOD_API_VERSION, type PruneMethodDefinition, validateMethodDefinition } from "./method.ts";

/** A host-owned set of method definitions, looked up by name. There is no global registry. */
export interface MethodRegistry {
  /**
   * Add a method.
   * @throws PruneError `SCORER_API_UNSUPPORTED` (other apiVersion, or an invalid definition),
   *   `SCORER_DUPLICATE` (a method of that name is already registered).
   */
  register(method: PruneMethodDefinition): void;
  /**
   * The method with this name.
   * @throws PruneError `SCORER_NOT_FOUND`, listing the known names.
   */
  get(name: string): PruneMethodDefinition;
  /** True when a method with this name is registered. */
  has(name: string): boolean;
  /** Registered methods, in registration order. */
  list(): readonly PruneMethodDefinition[];
}

/**
 * Create a method registry, optionally pre-filled (each method goes through `register`). The
 * pipeline's default registry is `createMethodRegistry(builtinMethods())`.
 *
 * @throws PruneError `SCORER_API_UNSUPPORTED` / `SCORER_DUPLICATE` from `register`.
 * @example
 * const methods = createMethodRegistry(builtinMethods());
 * methods.register(myPluginMethod);
 * methods.get("wanda").group; // "row"
 */
export function createMethodRegistry(methods: readonly PruneMethodDefinition[] = []): MethodRegistry {
  const byName = new Map<string, PruneMethodDefinition>();
  const registry: MethodRegistry = {
    register(method: PruneMethodDefinition): void {
      const d = method as unknown as Record<string, unknown> | null;
      const label = typeof d?.["name"] === "string" ? d["name"].slice(0, 80) : "<unnamed>";
      if (d?.["apiVersion"] !== METHOD_API_VERSION) {
        throw new PruneError(
          "SCORER_API_UNSUPPORTED",
          `method ${label}: apiVersion is not supported by this @mama-prune/pipeline. Expected ${METHOD_API_VERSION} (a definition made by defineMethod), got ${String(d?.["apiVersion"]).slice(0, 40)}.`,
        );
      }
      const problems = validateMethodDefinition(method);
      if (problems.length > 0) {
        throw new PruneError(
          "SCORER_API_UNSUPPORTED",
          `method ${label}: invalid method definition. ${problems.join(" ")}`,
        );
      }
      if (byName.has(method.name)) {
        throw new PruneError(
          "SCORER_DUPLICATE",
          `method ${method.name}: a method with this name is already registered. Expected a unique name, got a duplicate.`,
        );
      }
      byName.set(method.name, method);
    },
    get(name: string): PruneMethodDefinition {
      const m = byName.get(name);
      if (m === undefined) {
        const known = [...byName.keys()];
        const shown = JSON.stringify(String(name).slice(0, 80));
        throw new PruneError(
          "SCORER_NOT_FOUND",
          `method registry: no method named ${shown}. Expected one of ${known.length > 0 ? known.join(", ") : "(none registered)"}, got ${shown}.`,
        );
      }
      return m;
    },
    has(name: string): boolean {
      return byName.has(name);
    },
    list(): readonly PruneMethodDefinition[] {
      return [...byName.values()];
    },
  };
  for (const m of methods) registry.register(m);
  return registry;
}
