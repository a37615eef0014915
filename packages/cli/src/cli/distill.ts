// ---- `mama-prune distill`: flags and/or a recipe → DistillJob → runDistill → summary or JSON ----

import { DISTILL_DEFAULTS, type DistillJob, formatDistill, runDistill } from "../commands/distill.ts";
import { EXIT_CODES, UsageError } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { RECIPE_DEFAULTS } from "../recipe.ts";
import { backendFlags, intFlag, jsonOut, numFlag } from "./args.ts";
import type { CommandSpec, Flags, ParsedArgs } from "./spec.ts";
import {
  positive,
  scheduleFlags,
  scheduleSettings,
  TRAIN_OUTPUT_FLAGS,
  trainingInputs,
  trainingOutput,
  trainJsonTail,
} from "./train-args.ts";

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
    ...scheduleSettings(v, d, DISTILL_DEFAULTS),
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
      ...trainJsonTail(r),
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
    ...scheduleFlags({
      warmup: "min(10, steps/10)",
      minLr: "lr/10",
      weightDecay: DISTILL_DEFAULTS.weightDecay,
      clipNorm: DISTILL_DEFAULTS.clipNorm,
    }),
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
