// ---- What the training commands' argument parsing shares (distill, grpo): evaluation and output
// flags, schedule flags, paths from flags or the recipe, and the end of the --json output ----

import { basename, resolve } from "node:path";
import {
  type BeforeAfter,
  pplRecord,
  type TrainEvalSpec,
  type TrainedFolderSpec,
} from "../commands/train-output.ts";
import type { CliIo } from "../io.ts";
import { OUTPUT_FORMATS, type OutputFormat, RECIPE_DEFAULTS, type Recipe } from "../recipe.ts";
import {
  BACKEND_FLAGS,
  intFlag,
  LENIENT_FLAG,
  loadRecipeFile,
  numFlag,
  outputFormatFlag,
  str,
  TOKENIZER_FLAG,
} from "./args.ts";
import type { FlagTable, ParsedArgs } from "./spec.ts";

/** `x > 0`. */
export const positive = (x: number): boolean => x > 0;

/** Flags of the training commands' evaluation and output (distill, grpo). */
export const TRAIN_OUTPUT_FLAGS: FlagTable = {
  eval: {
    type: "string",
    value: "<file>",
    description: "UTF-8 text to measure perplexity on before and after training",
    default: "recipe.eval.text; none: no evaluation",
  },
  "eval-seqlen": {
    type: "string",
    value: "<n>",
    description: "tokens per evaluation window",
    default: `recipe.eval.seqlen, else ${RECIPE_DEFAULTS.evalSeqlen}`,
  },
  "eval-windows": {
    type: "string",
    value: "<n>",
    description: "evaluate only the first n windows",
    default: "all windows of the text",
  },
  ...TOKENIZER_FLAG,
  out: {
    type: "string",
    value: "<dir>",
    description: "output folder (refused when non-empty unless --overwrite; checked before any work)",
    default: "<model>-<command> in the working directory",
  },
  overwrite: { type: "boolean", description: "replace a non-empty output folder", default: "false" },
  format: {
    type: "string",
    value: OUTPUT_FORMATS.join("|"),
    description: "storage of the block linears (the zeros are kept, so sparse storage applies)",
    default: "recipe.output.format, else dense",
  },
  ...LENIENT_FLAG,
  ...BACKEND_FLAGS,
};

/** Paths of a training command: flags relative to the working directory, recipe keys to the recipe. */
export async function trainingInputs(
  v: ParsedArgs["values"],
  io: CliIo,
): Promise<{
  recipe: Recipe;
  recipeRef?: { path: string; content: unknown };
  fromFlag: (p: unknown) => string | undefined;
  fromRecipe: (p: string | undefined) => string | undefined;
}> {
  const recipeFile = str(v["recipe"]);
  const { recipe, baseDir } =
    recipeFile !== undefined
      ? await loadRecipeFile(recipeFile, io.cwd)
      : { recipe: {} as Recipe, baseDir: io.cwd };
  return {
    recipe,
    ...(recipeFile !== undefined
      ? { recipeRef: { path: resolve(io.cwd, recipeFile), content: recipe } }
      : {}),
    fromFlag: (p) => (typeof p === "string" ? resolve(io.cwd, p) : undefined),
    fromRecipe: (p) => (p === undefined ? undefined : resolve(baseDir, p)),
  };
}

/** The evaluation and output parts of a training job, from flags over the recipe. */
export function trainingOutput(
  command: string,
  model: string,
  v: ParsedArgs["values"],
  recipe: Recipe,
  paths: Awaited<ReturnType<typeof trainingInputs>>,
  split: number | undefined,
): { eval?: TrainEvalSpec; output: TrainedFolderSpec } {
  const evalPath = paths.fromFlag(v["eval"]) ?? paths.fromRecipe(recipe.eval?.text);
  const seqlen =
    intFlag(v["eval-seqlen"], "--eval-seqlen", 2) ?? recipe.eval?.seqlen ?? RECIPE_DEFAULTS.evalSeqlen;
  const windows = intFlag(v["eval-windows"], "--eval-windows", 1) ?? recipe.eval?.windows;
  const stem = basename(model).replace(/\.(bin|safetensors)$/, "");
  return {
    ...(evalPath !== undefined
      ? {
          eval: {
            text: evalPath,
            seqlen,
            ...(windows !== undefined ? { windows } : {}),
            ...(split !== undefined ? { split } : {}),
          },
        }
      : {}),
    output: {
      out:
        paths.fromFlag(v["out"]) ??
        paths.fromRecipe(recipe.output?.dir) ??
        resolve(paths.fromFlag(".")!, `${stem}-${command}`),
      overwrite: v["overwrite"] === true || recipe.output?.overwrite === true,
      format:
        v["format"] !== undefined
          ? (outputFormatFlag(v["format"], OUTPUT_FORMATS) as OutputFormat)
          : (recipe.output?.format ?? "dense"),
    },
  };
}

/** The schedule and regularisation flags of a training command; `d` gives the defaults shown. */
export function scheduleFlags(d: {
  readonly warmup: string;
  readonly minLr: string;
  readonly weightDecay: number;
  readonly clipNorm: number;
}): FlagTable {
  return {
    warmup: { type: "string", value: "<n>", description: "linear warm-up steps", default: d.warmup },
    "min-lr": { type: "string", value: "<x>", description: "floor of the cosine schedule", default: d.minLr },
    "weight-decay": {
      type: "string",
      value: "<x>",
      description: "AdamW decoupled weight decay on matrices",
      default: String(d.weightDecay),
    },
    "clip-norm": {
      type: "string",
      value: "<x>",
      description: "global gradient-norm clipping",
      default: String(d.clipNorm),
    },
  };
}

/** The section keys {@link scheduleSettings} reads from a recipe's distill: or grpo: section. */
interface ScheduleSection {
  readonly warmupSteps?: number;
  readonly minLr?: number;
  readonly weightDecay?: number;
  readonly clipNorm?: number;
}

/** `--warmup`, `--min-lr`, `--weight-decay` and `--clip-norm` over the recipe section over `defaults`. */
export function scheduleSettings(
  v: ParsedArgs["values"],
  section: ScheduleSection | undefined,
  defaults: { readonly weightDecay: number; readonly clipNorm: number },
): { warmupSteps?: number; minLr?: number; weightDecay: number; clipNorm: number } {
  const warmupSteps = intFlag(v["warmup"], "--warmup", 0) ?? section?.warmupSteps;
  const minLr = numFlag(v["min-lr"], "--min-lr", (x) => x >= 0, "a number ≥ 0") ?? section?.minLr;
  return {
    ...(warmupSteps !== undefined ? { warmupSteps } : {}),
    ...(minLr !== undefined ? { minLr } : {}),
    weightDecay:
      numFlag(v["weight-decay"], "--weight-decay", (x) => x >= 0, "a number ≥ 0") ??
      section?.weightDecay ??
      defaults.weightDecay,
    clipNorm:
      numFlag(v["clip-norm"], "--clip-norm", positive, "a number > 0") ??
      section?.clipNorm ??
      defaults.clipNorm,
  };
}

/** The end of a training command's --json output: perplexities (when measured), backend, time. */
export function trainJsonTail(r: {
  readonly eval?: BeforeAfter;
  readonly backend: string;
  readonly report: { readonly elapsedMs: number };
}): Record<string, unknown> {
  return {
    ...(r.eval !== undefined ? { eval: pplRecord(r.eval) } : {}),
    backend: r.backend,
    elapsedMs: r.report.elapsedMs,
  };
}
