// ---- A command-line flag overrides only what it names ----

import { PruneError } from "@mama-prune/core";
import type { MethodSpec } from "./recipe.ts";

// Redistributions that read `damping` / `blockSize` (besides the sparsegpt method itself).
const USES_DAMPING = new Set(["sparsegpt", "refit", "auto"]);

/**
 * The method of a `prune --recipe … --method <name>` run: the recipe's method with only its name
 * replaced. Every other option the recipe set (scorer, group, redistribution, mama, damping,
 * blockSize) is kept; the recipe's `label` is dropped when the name changes (it described the
 * other method). An option that would be silently ignored by the new method is an error naming the
 * flag and the recipe key: `mama` options on a method other than mama, `damping`/`blockSize`
 * when neither the method (sparsegpt) nor the redistribution (sparsegpt, refit, auto) uses them.
 *
 * @throws PruneError RECIPE_INVALID naming `--method` and the recipe key.
 * @example
 * overrideMethodName({ name: "mama", redistribution: "refit" }, "wanda"); // { name: "wanda", redistribution: "refit" }
 */
export function overrideMethodName(recipeMethod: MethodSpec | undefined, name: string): MethodSpec {
  if (recipeMethod === undefined) return { name };
  if (recipeMethod.name === name) return recipeMethod;
  const { label: _label, ...rest } = recipeMethod;
  const conflict = (key: string, why: string): never => {
    throw new PruneError(
      "RECIPE_INVALID",
      `--method ${name} conflicts with recipe.method.${key} (set for method ${recipeMethod.name}): ${why}. Expected a method that uses it, or remove recipe.method.${key}; got both.`,
    );
  };
  if (rest.mama !== undefined && name !== "mama") conflict("mama", `only method mama reads mama options`);
  const redistribution = rest.redistribution ?? "none";
  if (name !== "sparsegpt" && !USES_DAMPING.has(redistribution)) {
    if (rest.damping !== undefined)
      conflict("damping", `method ${name} with redistribution ${redistribution} does not use damping`);
    if (rest.blockSize !== undefined)
      conflict("blockSize", `method ${name} with redistribution ${redistribution} does not use blockSize`);
  }
  return { ...rest, name };
}
