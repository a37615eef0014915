// ---- `mama-prune sweep`: a recipe (with --seeds / --out overrides) → runSweep → reports ----

import { runSweep } from "../commands/sweep.ts";
import { EXIT_CODES, UsageError } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { parseSeeds } from "../recipe.ts";
import { BACKEND_FLAGS, backendFlags, jsonOut, LENIENT_FLAG, loadRecipeFile, str } from "./args.ts";
import type { CommandSpec, Flags, ParsedArgs } from "./spec.ts";

async function sweep({ values: v }: ParsedArgs, io: CliIo, flags: Flags): Promise<number> {
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
  const maxResident = str(v["max-resident-bytes"]);
  let maxResidentBytes: number | undefined;
  if (maxResident !== undefined) {
    maxResidentBytes = parseBytes(maxResident);
    if (maxResidentBytes === undefined) {
      throw new UsageError(
        `--max-resident-bytes: expected a non-negative byte count (e.g. 2147483648, 512MiB, 2GiB), got ${JSON.stringify(maxResident.slice(0, 40))}`,
      );
    }
  }
  const r = await runSweep(recipe, {
    ...(maxResidentBytes !== undefined ? { maxResidentBytes } : {}),
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

const UNITS: Readonly<Record<string, number>> = { "": 1, B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30 };

/** "123", "512MiB", "2GiB" → bytes; undefined when malformed. */
function parseBytes(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/.exec(s.trim());
  if (m === null) return undefined;
  const n = Number(m[1]) * UNITS[m[2] ?? ""]!;
  return Number.isFinite(n) ? Math.floor(n) : undefined;
}

/** `mama-prune sweep`. */
export const SWEEP_COMMAND: CommandSpec = {
  name: "sweep",
  summary: "the dense model and every method × level (× seed) of a recipe, as paper-format tables and a plot",
  usage: ["sweep --recipe <file> [--out <dir>] [--seeds 0,1,2]"],
  positionals: [],
  flags: {
    recipe: {
      type: "string",
      value: "<file>",
      description: "recipe (YAML or JSON) with model, methods, levels, eval and calibration",
      default: "required",
    },
    out: {
      type: "string",
      value: "<dir>",
      description: "folder of the report files (Markdown, CSV, JSON, SVG)",
      default: "recipe output.dir, else results/ beside the recipe",
    },
    seeds: {
      type: "string",
      value: "<list>",
      description: "comma-separated calibration seeds, one draw each; cells show mean ± sample std",
      default: "recipe calibration.seeds, else its seed",
    },
    "max-resident-bytes": {
      type: "string",
      value: "<bytes>",
      description:
        "memory budget: a model whose float32 weights exceed it is swept streamed (one block resident, each pruned model in a scratch folder beside the reports); the protocol says which",
      default: "2GiB",
    },
    ...LENIENT_FLAG,
    ...BACKEND_FLAGS,
  },
  examples: [
    "sweep --recipe examples/reproduce-table1/table1.yaml --out results",
    "sweep --recipe sweep.yaml --seeds 0,1,2",
  ],
  run: sweep,
};
