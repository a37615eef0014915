// ---- `mama-prune distill`: flags and/or a recipe → DistillJob → runDistill → summary or JSON ----

import { basename, resolve } from "node:path";
import { DISTILL_DEFAULTS, type DistillJob, formatDistill, runDistill } from "../commands/distill.ts";
import { EXIT_CODES, UsageError } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { OUTPUT_FORMATS, type OutputFormat, RECIPE_DEFAULTS, type Recipe } from "../recipe.ts";
import {
  BACKEND_FLAGS,
  backendFlags,
  intFlag,
  jsonOut,
  LENIENT_FLAG,
  loadRecipeFile,
  numFlag,
  outputFormatFlag,
  str,
} from "./args.ts";
import type { CommandSpec, Flags, FlagTable, ParsedArgs } from "./spec.ts";

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
  tokenizer: {
    type: "string",
    value: "<file>",
    description: "tokenizer.json or llama2.c tokenizer .bin",
    default: "tokenizer.json / tokenizer.bin / tok*.bin next to the checkpoint",
  },
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
): Pick<DistillJob, "eval" | "output"> {
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

const positive = (x: number): boolean => x > 0;

async function distillCommand(
  { values: v, positionals }: ParsedArgs,
  io: CliIo,
  flags: Flags,
): Promise<number> {
  const paths = await trainingInputs(v, io);
  const { recipe, fromFlag, fromRecipe } = paths;
  const d = recipe.distill;
  const student = fromFlag(positionals[0]) ?? fromRecipe(recipe.model);
  if (student === undefined) throw new UsageError("distill: missing <pruned-student> (or recipe.model)");
  const teacher = fromFlag(v["teacher"]) ?? fromRecipe(d?.teacher);
  if (teacher === undefined)
    throw new UsageError("distill: missing --teacher <checkpoint> (or recipe.distill.teacher)");
  const text = fromFlag(v["text"]) ?? fromRecipe(d?.text);
  if (text === undefined) throw new UsageError("distill: missing --text <file> (or recipe.distill.text)");
  const split = v["split"] === true ? RECIPE_DEFAULTS.split : d?.split;
  const tokenizer = fromFlag(v["tokenizer"]) ?? fromRecipe(recipe.tokenizer);
  const warmupSteps = intFlag(v["warmup"], "--warmup", 0) ?? d?.warmupSteps;
  const minLr = numFlag(v["min-lr"], "--min-lr", (x) => x >= 0, "a number ≥ 0") ?? d?.minLr;
  const job: DistillJob = {
    student,
    teacher,
    text,
    ...(split !== undefined ? { split } : {}),
    ...(tokenizer !== undefined ? { tokenizer } : {}),
    steps: intFlag(v["steps"], "--steps", 1) ?? d?.steps ?? DISTILL_DEFAULTS.steps,
    lr: numFlag(v["lr"], "--lr", positive, "a number > 0") ?? d?.lr ?? DISTILL_DEFAULTS.lr,
    seqlen: intFlag(v["seqlen"], "--seqlen", 1) ?? d?.seqlen ?? DISTILL_DEFAULTS.seqlen,
    batch: intFlag(v["batch"], "--batch", 1) ?? d?.batch ?? DISTILL_DEFAULTS.batch,
    temperature:
      numFlag(v["temperature"], "--temperature", positive, "a number > 0") ??
      d?.temperature ??
      DISTILL_DEFAULTS.temperature,
    alpha:
      numFlag(v["alpha"], "--alpha", (x) => x >= 0 && x <= 1, "a number in [0, 1]") ??
      d?.alpha ??
      DISTILL_DEFAULTS.alpha,
    seed: intFlag(v["seed"], "--seed", 0) ?? d?.seed ?? DISTILL_DEFAULTS.seed,
    ...(warmupSteps !== undefined ? { warmupSteps } : {}),
    ...(minLr !== undefined ? { minLr } : {}),
    weightDecay:
      numFlag(v["weight-decay"], "--weight-decay", (x) => x >= 0, "a number ≥ 0") ??
      d?.weightDecay ??
      DISTILL_DEFAULTS.weightDecay,
    clipNorm:
      numFlag(v["clip-norm"], "--clip-norm", positive, "a number > 0") ??
      d?.clipNorm ??
      DISTILL_DEFAULTS.clipNorm,
    ...trainingOutput("distilled", student, v, recipe, paths, split),
    ...(paths.recipeRef !== undefined ? { recipe: paths.recipeRef } : {}),
  };
  const lenient = v["lenient"] === true || recipe.lenient === true;
  const r = await runDistill(job, { io, quiet: flags.quiet, lenient, ...backendFlags(v) });
  if (flags.json) {
    jsonOut(io, {
      out: r.out,
      files: r.files,
      steps: r.report.steps,
      losses: r.report.losses,
      protocol: r.report.protocol,
      sparsity: r.sparsity,
      ...(r.eval !== undefined
        ? {
            eval: {
              before: { ppl: r.eval.before.ppl, protocol: r.eval.before.protocol },
              after: { ppl: r.eval.after.ppl, protocol: r.eval.after.protocol },
            },
          }
        : {}),
      backend: r.backend,
      elapsedMs: r.report.elapsedMs,
    });
  } else io.stdout(formatDistill(r));
  return EXIT_CODES.ok;
}

/** `mama-prune distill`. */
export const DISTILL_COMMAND: CommandSpec = {
  name: "distill",
  summary: "distill a pruned model from its dense teacher, keeping every pruned weight at zero",
  usage: [
    "distill <pruned-student> --teacher <checkpoint> --text <file> [--steps n --lr x --temperature T --alpha a] [flags]",
    "distill --recipe <file> [<pruned-student>] [flags: each overrides the recipe key it names]",
  ],
  positionals: [
    {
      name: "<pruned-student>",
      description: "the pruned checkpoint (e.g. a prune output folder) that is trained (else recipe.model)",
    },
  ],
  flags: {
    recipe: {
      type: "string",
      value: "<file>",
      description: "recipe (YAML or JSON) with a distill: section; its paths are relative to the recipe file",
      default: "none",
    },
    teacher: {
      type: "string",
      value: "<checkpoint>",
      description: "the dense teacher (same vocabulary as the student)",
      default: "recipe.distill.teacher; required",
    },
    text: {
      type: "string",
      value: "<file>",
      description: "UTF-8 training text (one token stream, BOS at its start)",
      default: "recipe.distill.text; required",
    },
    split: {
      type: "boolean",
      description: `train on the last ${100 * RECIPE_DEFAULTS.split} % of paragraphs of --text and evaluate on the rest of --eval (the paper's protocol)`,
      default: "recipe.distill.split, else false (the whole texts)",
    },
    steps: {
      type: "string",
      value: "<n>",
      description: "optimizer steps",
      default: String(DISTILL_DEFAULTS.steps),
    },
    lr: {
      type: "string",
      value: "<x>",
      description: "peak learning rate (AdamW)",
      default: String(DISTILL_DEFAULTS.lr),
    },
    seqlen: {
      type: "string",
      value: "<n>",
      description: "tokens per training window (at most the model's context)",
      default: String(DISTILL_DEFAULTS.seqlen),
    },
    batch: {
      type: "string",
      value: "<n>",
      description: "windows per step",
      default: String(DISTILL_DEFAULTS.batch),
    },
    temperature: {
      type: "string",
      value: "<T>",
      description: "distillation temperature: loss = (1−α)·T²·KL(teacher_T ‖ student_T) + α·CE",
      default: String(DISTILL_DEFAULTS.temperature),
    },
    alpha: {
      type: "string",
      value: "<a>",
      description: "weight of next-token cross-entropy in [0, 1]",
      default: String(DISTILL_DEFAULTS.alpha),
    },
    seed: {
      type: "string",
      value: "<n>",
      description: "seed of the data order",
      default: String(DISTILL_DEFAULTS.seed),
    },
    warmup: {
      type: "string",
      value: "<n>",
      description: "linear warm-up steps",
      default: "min(10, steps/10)",
    },
    "min-lr": { type: "string", value: "<x>", description: "floor of the cosine schedule", default: "lr/10" },
    "weight-decay": {
      type: "string",
      value: "<x>",
      description: "AdamW decoupled weight decay on matrices",
      default: String(DISTILL_DEFAULTS.weightDecay),
    },
    "clip-norm": {
      type: "string",
      value: "<x>",
      description: "global gradient-norm clipping",
      default: String(DISTILL_DEFAULTS.clipNorm),
    },
    ...TRAIN_OUTPUT_FLAGS,
  },
  notes: [
    "The student's zeros are kept exactly (masked AdamW; checked bit for bit before writing), so the\nsparsity before and after is the same. The folder holds config.json (mama_prune_distill),\nmodel.safetensors (float32), the tokenizer (tokenizer.json added for a llama2.c one) and\ntraining.json (settings, losses, sparsity, perplexities, sha256 of every input and output, and the\nstudent's pruning.json). Defaults are the library's (T 2, α 0) and the paper's Table 2 run for the rest.",
  ],
  examples: [
    "distill wanda-50 --teacher data/stories260K/stories260K.bin --text data/tinystories/tinystories_val.txt --eval data/tinystories/tinystories_val.txt --split --alpha 0.1 --out wanda-50-distilled",
    "distill --recipe distill.yaml --steps 20",
  ],
  run: distillCommand,
};
