// ---- `mama-prune prune`: flags and/or a recipe → PruneJob → runPrune → summary or JSON ----

import { basename, resolve } from "node:path";
import { PruneError } from "@mama-prune/core";
import { levelLabel, PRUNE_METHODS } from "@mama-prune/pipeline";
import { DEFAULT_CALIBRATION_MAX_SEQLEN, DEFAULT_CALIBRATION_NSAMPLES } from "../calibration-protocol.ts";
import { formatPrune, type PruneJob, runPrune } from "../commands/prune.ts";
import { EXIT_CODES, UsageError } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { overrideMethodName } from "../overrides.ts";
import {
  type AllocationSpec,
  type MethodSpec,
  OUTPUT_FORMATS,
  type OutputFormat,
  type PluginSpec,
  parseSparsity,
  RECIPE_DEFAULTS,
  type Recipe,
} from "../recipe.ts";
import { BACKEND_FLAGS, backendFlags, intFlag, jsonOut, LENIENT_FLAG, loadRecipeFile, str } from "./args.ts";
import type { CommandSpec, Flags, ParsedArgs } from "./spec.ts";

const PLUGIN_METHOD_RE = /^@?[a-z0-9]+(?:-[a-z0-9]+)*\/[a-z0-9]+(?:-[a-z0-9]+)*$/;

function methodFlag(v: unknown): string {
  const s = String(v);
  if (!(PRUNE_METHODS as readonly string[]).includes(s) && !PLUGIN_METHOD_RE.test(s)) {
    throw new PruneError(
      "SCORER_NOT_FOUND",
      `--method: unknown method. Expected one of ${PRUNE_METHODS.join(", ")} or a plugin method "scope/name", got ${JSON.stringify(s.slice(0, 40))}.`,
    );
  }
  return s;
}

function formatFlag(v: unknown): OutputFormat {
  const s = v === "sparse-24-bitmask" ? "sparse-24" : String(v);
  if (!(OUTPUT_FORMATS as readonly string[]).includes(s)) {
    throw new UsageError(
      `--format: expected one of ${OUTPUT_FORMATS.join(", ")}, got ${JSON.stringify(s.slice(0, 40))}`,
    );
  }
  return s as OutputFormat;
}

function defaultOut(cwd: string, model: string, method: string, sparsity: PruneJob["sparsity"]): string {
  const stem = basename(model).replace(/\.(bin|safetensors)$/, "");
  return resolve(cwd, `${stem}-${method}-${levelLabel(sparsity).replace(":", "of")}`);
}
async function prune({ values: v, positionals }: ParsedArgs, io: CliIo, flags: Flags): Promise<number> {
  const cwd = io.cwd;
  const recipeFile = str(v["recipe"]);
  const { recipe, baseDir } =
    recipeFile !== undefined ? await loadRecipeFile(recipeFile, cwd) : { recipe: {} as Recipe, baseDir: cwd };
  const fromRecipe = (p: string | undefined): string | undefined =>
    p === undefined ? undefined : resolve(baseDir, p);
  const fromFlag = (p: unknown): string | undefined => (typeof p === "string" ? resolve(cwd, p) : undefined);

  const model = fromFlag(positionals[0]) ?? fromRecipe(recipe.model);
  if (model === undefined) throw new UsageError("prune: missing <checkpoint> (or recipe.model)");
  let method: MethodSpec | undefined = recipe.method;
  // A flag overrides only what it names: the recipe's other method options stay (or conflict).
  if (v["method"] !== undefined) method = overrideMethodName(recipe.method, methodFlag(v["method"]));
  if (method === undefined) throw new UsageError("prune: missing --method <name> (or recipe.method)");
  const plugins: PluginSpec[] = [
    ...(recipe.plugins ?? []),
    ...((v["plugin"] as string[] | undefined) ?? []).map((p) => ({ package: p })),
  ];
  const scorer = str(v["scorer"]);
  if (scorer !== undefined) method = { ...method, scorer };
  const sparsity =
    v["sparsity"] !== undefined ? parseSparsity(String(v["sparsity"]), "--sparsity") : recipe.sparsity;
  if (sparsity === undefined) throw new UsageError("prune: missing --sparsity <s|N:M> (or recipe.sparsity)");
  const calText = fromFlag(v["calibration"]) ?? fromRecipe(recipe.calibration?.text);
  const allocationFlag = str(v["allocation"]);
  if (allocationFlag !== undefined && allocationFlag !== "uniform" && allocationFlag !== "owl") {
    throw new UsageError(
      `--allocation: expected uniform or owl, got ${JSON.stringify(allocationFlag.slice(0, 40))}`,
    );
  }
  const allocation: AllocationSpec | undefined =
    allocationFlag === "uniform" || allocationFlag === "owl" ? { kind: allocationFlag } : recipe.allocation;
  const out =
    fromFlag(v["out"]) ?? fromRecipe(recipe.output?.dir) ?? defaultOut(cwd, model, method.name, sparsity);
  const pre = fromFlag(v["pre"]) ?? fromRecipe(recipe.pre);
  const sampleWeights = fromFlag(v["sample-weights"]) ?? fromRecipe(recipe.sampleWeights);
  const tokenizer = fromFlag(v["tokenizer"]) ?? fromRecipe(recipe.tokenizer);
  // Left out: the anchors' protocol (128 × min(2048, context)), resolved once the model is open.
  const nsamples = intFlag(v["nsamples"], "--nsamples", 1) ?? recipe.calibration?.nsamples;
  const seqlen = intFlag(v["seqlen"], "--seqlen", 2) ?? recipe.calibration?.seqlen;
  const job: PruneJob = {
    model,
    method,
    sparsity,
    out,
    format: v["format"] !== undefined ? formatFlag(v["format"]) : (recipe.output?.format ?? "dense"),
    overwrite: v["overwrite"] === true || recipe.output?.overwrite === true,
    plugins,
    pluginBase: recipeFile !== undefined && v["plugin"] === undefined ? baseDir : cwd,
    ...(recipeFile !== undefined ? { recipe: { path: resolve(cwd, recipeFile), content: recipe } } : {}),
    ...(tokenizer !== undefined ? { tokenizer } : {}),
    ...(pre !== undefined ? { pre } : {}),
    ...(sampleWeights !== undefined ? { sampleWeights } : {}),
    ...(allocation !== undefined ? { allocation } : {}),
    ...(calText !== undefined
      ? {
          calibration: {
            text: calText,
            ...(nsamples !== undefined ? { nsamples } : {}),
            ...(seqlen !== undefined ? { seqlen } : {}),
            seed: intFlag(v["seed"], "--seed", 0) ?? recipe.calibration?.seed ?? RECIPE_DEFAULTS.seed,
            ...(v["split"] === true ? { split: recipe.calibration?.split ?? RECIPE_DEFAULTS.split } : {}),
          },
        }
      : {}),
  };
  // A lone --plugin without --scorer: use that plugin's scorer for a method the plugins do not define.
  if (job.method.scorer === undefined && v["plugin"] !== undefined && plugins.length > 0) {
    const { loadPlugins } = await import("../plugins.ts");
    const { fromPlugins } = await loadPlugins(plugins, job.pluginBase);
    const last = fromPlugins.scorers.at(-1);
    const ownMethod = fromPlugins.methods.some((m) => m.name === job.method.name);
    if (last !== undefined && !ownMethod) {
      (job as { method: MethodSpec }).method = { ...job.method, scorer: last.name };
    }
  }
  const lenient = v["lenient"] === true || recipe.lenient === true;
  const r = await runPrune(job, { io, quiet: flags.quiet, lenient, ...backendFlags(v) });
  if (flags.json) {
    jsonOut(io, {
      out: r.out,
      files: r.files,
      report: r.report,
      ...(r.calibrationSize !== undefined ? { calibrationSize: r.calibrationSize } : {}),
    });
  } else io.stdout(formatPrune(r));
  return EXIT_CODES.ok;
}

/** `mama-prune prune`. */
export const PRUNE_COMMAND: CommandSpec = {
  name: "prune",
  summary: "prune a checkpoint with one method at one sparsity into a Hugging Face folder",
  usage: [
    "prune <checkpoint> --method <name> --sparsity <s|N:M> [--calibration <text>] [flags]",
    "prune --recipe <file> [<checkpoint>] [flags: each overrides the recipe key it names]",
  ],
  positionals: [
    {
      name: "<checkpoint>",
      description: "a llama2.c .bin, a .safetensors file or a Hugging Face folder (else recipe.model)",
    },
  ],
  flags: {
    recipe: {
      type: "string",
      value: "<file>",
      description: "recipe (YAML or JSON); its paths are relative to the recipe file",
      default: "none",
    },
    method: {
      type: "string",
      value: "<name>",
      description: `${PRUNE_METHODS.join(", ")}, or a plugin method "scope/name"`,
      default: "recipe.method; required",
    },
    sparsity: {
      type: "string",
      value: "<s|N:M>",
      description: "fraction of weights zeroed in [0, 1) (0.5, 50%) or N:M zeros in every M (2:4)",
      default: "recipe.sparsity; required",
    },
    calibration: {
      type: "string",
      value: "<file>",
      description: "UTF-8 calibration text (needed by wanda, sparsegpt, mama, OWL)",
      default: "recipe.calibration.text",
    },
    nsamples: {
      type: "string",
      value: "<n>",
      description: "calibration windows drawn",
      default: String(DEFAULT_CALIBRATION_NSAMPLES),
    },
    seqlen: {
      type: "string",
      value: "<n>",
      description: "tokens per calibration window",
      default: `min(${DEFAULT_CALIBRATION_MAX_SEQLEN}, the model's context)`,
    },
    seed: {
      type: "string",
      value: "<n>",
      description: "seed of the calibration window draw",
      default: String(RECIPE_DEFAULTS.seed),
    },
    allocation: {
      type: "string",
      value: "uniform|owl",
      description: "sparsity per block: the same everywhere, or OWL's outlier-weighted allocation",
      default: "uniform",
    },
    pre: {
      type: "string",
      value: "<checkpoint>",
      description: "pre-trained checkpoint (W⁰) for movement terms",
      default: "none",
    },
    "sample-weights": {
      type: "string",
      value: "<file.json|.txt>",
      description:
        "per-window calibration weights (one finite weight ≥ 0 per window, not all zero; e.g. grpo's reward-calibration.json)",
      default: "none (every window weighs 1)",
    },
    out: {
      type: "string",
      value: "<dir>",
      description: "output folder (refused when non-empty unless --overwrite)",
      default: "<model>-<method>-<level> in the working directory",
    },
    format: {
      type: "string",
      value: OUTPUT_FORMATS.join("|"),
      description: "storage of the pruned linears",
      default: "dense",
    },
    plugin: {
      type: "string",
      multiple: true,
      value: "<package>",
      description: "load scorers / methods from a plugin package or module path",
      default: "none",
    },
    scorer: {
      type: "string",
      value: "<name>",
      description: "replace the method's scorer with a plugin scorer",
      default: "the method's own; with a lone --plugin, that plugin's scorer",
    },
    tokenizer: {
      type: "string",
      value: "<file>",
      description: "tokenizer.json or llama2.c tokenizer .bin",
      default: "tokenizer.json / tokenizer.bin / tok*.bin next to the checkpoint",
    },
    overwrite: { type: "boolean", description: "replace a non-empty output folder", default: "false" },
    split: {
      type: "boolean",
      description: `calibrate on the last ${100 * RECIPE_DEFAULTS.split} % of paragraphs only, which eval --split leaves out`,
      default: "false (the whole text)",
    },
    ...LENIENT_FLAG,
    ...BACKEND_FLAGS,
  },
  notes: [
    "Calibrated methods draw --nsamples disjoint windows of --seqlen tokens from the calibration text\n(the anchors' protocol when left out). The pruned folder holds config.json (with the prune report\nin mama_prune), model.safetensors, the tokenizer and pruning.json (provenance with checksums).",
  ],
  examples: [
    "prune data/stories260K/stories260K.bin --method wanda --sparsity 0.5 --calibration data/tinystories/tinystories_val.txt --out stories-wanda50",
    "prune model --method sparsegpt --sparsity 2:4 --calibration text.txt --format sparse-24",
    "prune --recipe examples/custom-scorer/recipe.yaml --out pruned",
  ],
  run: prune,
};
