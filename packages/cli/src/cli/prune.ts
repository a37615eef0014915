// ---- `mama-prune prune`: flags and/or a recipe → PruneJob → runPrune → summary or JSON ----

import { basename, resolve } from "node:path";
import { PruneError } from "@mama-prune/core";
import { levelLabel, PRUNE_METHODS } from "@mama-prune/pipeline";
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
import {
  BACKEND_FLAGS,
  backendFlags,
  type Flags,
  intFlag,
  jsonOut,
  loadRecipeFile,
  parse,
  str,
} from "./args.ts";

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
export async function cmdPrune(args: readonly string[], io: CliIo, flags: Flags): Promise<number> {
  const { values: v, positionals } = parse(
    "prune",
    args,
    {
      recipe: { type: "string" },
      method: { type: "string" },
      sparsity: { type: "string" },
      calibration: { type: "string" },
      nsamples: { type: "string" },
      seqlen: { type: "string" },
      seed: { type: "string" },
      allocation: { type: "string" },
      pre: { type: "string" },
      out: { type: "string" },
      format: { type: "string" },
      plugin: { type: "string", multiple: true },
      scorer: { type: "string" },
      tokenizer: { type: "string" },
      overwrite: { type: "boolean" },
      split: { type: "boolean" },
      lenient: { type: "boolean" },
      ...BACKEND_FLAGS,
    },
    1,
  );
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
