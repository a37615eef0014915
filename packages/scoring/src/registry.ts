import { PruneError } from "@mama-prune/core";
import { SCORER_API_VERSION, type ScorerPlugin, validateScorerMetadata } from "./contract.ts";

/** A host-owned set of scorer plugins, looked up by name. There is no global registry. */
export interface ScorerRegistry {
  /**
   * Add a plugin.
   * @throws PruneError `SCORER_API_UNSUPPORTED` (other apiVersion or granularity), `SCORER_DUPLICATE`.
   * @throws TypeError when the metadata is otherwise malformed (name, requires, score).
   */
  register(plugin: ScorerPlugin): void;
  /**
   * The plugin with this name.
   * @throws PruneError `SCORER_NOT_FOUND`, listing the known names.
   */
  get(name: string): ScorerPlugin;
  /** True when a plugin with this name is registered. */
  has(name: string): boolean;
  /** Registered plugins, in registration order. */
  list(): readonly ScorerPlugin[];
}

/**
 * Create a registry, optionally pre-filled (each plugin goes through `register`).
 *
 * @throws PruneError `SCORER_API_UNSUPPORTED` / `SCORER_DUPLICATE` from `register`.
 * @example
 * const scorers = createScorerRegistry([magnitude(), wanda()]);
 * scorers.get("wanda").requires; // ["activation-norms"]
 */
export function createScorerRegistry(plugins: readonly ScorerPlugin[] = []): ScorerRegistry {
  const byName = new Map<string, ScorerPlugin>();
  const registry: ScorerRegistry = {
    register(plugin: ScorerPlugin): void {
      const p = plugin as unknown as Record<string, unknown>;
      const label = typeof p["name"] === "string" ? p["name"].slice(0, 80) : "<unnamed>";
      if (p["apiVersion"] !== SCORER_API_VERSION) {
        throw new PruneError(
          "SCORER_API_UNSUPPORTED",
          `scorer ${label}: apiVersion is not supported by this @mama-prune/scoring. Expected ${SCORER_API_VERSION}, got ${String(p["apiVersion"]).slice(0, 40)}.`,
        );
      }
      if (p["granularity"] !== "element") {
        throw new PruneError(
          "SCORER_API_UNSUPPORTED",
          `scorer ${label}: granularity is not supported. Expected "element", got ${String(p["granularity"]).slice(0, 40)}.`,
        );
      }
      const problems = validateScorerMetadata(plugin);
      if (problems.length > 0) throw new TypeError(`scorer ${label}: invalid plugin: ${problems.join(" ")}`);
      if (byName.has(plugin.name)) {
        throw new PruneError(
          "SCORER_DUPLICATE",
          `scorer ${plugin.name}: a scorer with this name is already registered. Expected a unique name, got a duplicate.`,
        );
      }
      byName.set(plugin.name, plugin);
    },
    get(name: string): ScorerPlugin {
      const p = byName.get(name);
      if (p === undefined) {
        const known = [...byName.keys()];
        throw new PruneError(
          "SCORER_NOT_FOUND",
          `scorer registry: no scorer named ${JSON.stringify(name.slice(0, 80))}. Expected one of ${known.length > 0 ? known.join(", ") : "(none registered)"}, got ${JSON.stringify(name.slice(0, 80))}.`,
        );
      }
      return p;
    },
    has(name: string): boolean {
      return byName.has(name);
    },
    list(): readonly ScorerPlugin[] {
      return [...byName.values()];
    },
  };
  for (const p of plugins) registry.register(p);
  return registry;
}
