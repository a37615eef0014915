// ---- `mama-prune sweep`: a recipe (with --seeds / --out overrides) → runSweep → reports ----

import { runSweep } from "../commands/sweep.ts";
import { EXIT_CODES, UsageError } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { parseSeeds } from "../recipe.ts";
import { BACKEND_FLAGS, backendFlags, type Flags, jsonOut, loadRecipeFile, parse, str } from "./args.ts";

export async function cmdSweep(args: readonly string[], io: CliIo, flags: Flags): Promise<number> {
  const { values: v } = parse(
    "sweep",
    args,
    {
      recipe: { type: "string" },
      out: { type: "string" },
      seeds: { type: "string" },
      lenient: { type: "boolean" },
      ...BACKEND_FLAGS,
    },
    0,
  );
  const recipeFile = str(v["recipe"]);
  if (recipeFile === undefined) throw new UsageError("sweep: missing --recipe <file>");
  const loaded = await loadRecipeFile(recipeFile, io.cwd);
  const { baseDir } = loaded;
  let recipe = loaded.recipe;
  const seedsFlag = str(v["seeds"]);
  if (seedsFlag !== undefined) {
    if (recipe.calibration === undefined) {
      throw new UsageError(
        `sweep --seeds: ${recipeFile} has no calibration section. Expected a recipe with calibration (text, nsamples, seqlen), got none.`,
      );
    }
    const seeds = parseSeeds(seedsFlag, "--seeds");
    recipe = { ...recipe, calibration: { ...recipe.calibration, seed: seeds[0]!, seeds } };
  }
  const out = str(v["out"]);
  const r = await runSweep(recipe, {
    io,
    quiet: flags.quiet,
    lenient: v["lenient"] === true || recipe.lenient === true,
    ...backendFlags(v),
    baseDir,
    ...(out !== undefined ? { outDir: out } : {}),
  });
  if (flags.json) {
    jsonOut(io, {
      table: r.table,
      dense: r.dense,
      runs: r.runs,
      files: r.files,
      wallTimeMs: Math.round(r.wallTimeMs),
    });
  } else {
    io.stdout(r.markdown);
    io.stdout(`\nwrote ${r.files.join(", ")}\n`);
  }
  return EXIT_CODES.ok;
}
