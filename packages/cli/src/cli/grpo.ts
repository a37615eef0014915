// ---- `mama-prune grpo`: flags and/or a recipe → GrpoJob → runGrpo → summary or JSON ----

import {
  formatGrpo,
  GRPO_DEFAULTS,
  type GrpoJob,
  REWARD_CALIBRATION_FILE,
  runGrpo,
} from "../commands/grpo.ts";
import { EXIT_CODES, UsageError } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { RECIPE_DEFAULTS } from "../recipe.ts";
import { CONTAINS_WORD } from "../verifier-plugin.ts";
import { backendFlags, intFlag, jsonOut, numFlag, str } from "./args.ts";
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

async function grpoCommand({ values: v, positionals }: ParsedArgs, io: CliIo, flags: Flags): Promise<number> {
  const paths = await trainingInputs(v, io);
  const { recipe, fromFlag, fromRecipe } = paths;
  const g = recipe.grpo;
  const model = fromFlag(positionals[0]) ?? fromRecipe(recipe.model);
  if (model === undefined) throw new UsageError("grpo: missing <checkpoint> (or recipe.model)");
  const verifierFlag = str(v["verifier"]);
  const verifier =
    verifierFlag !== undefined ? { package: verifierFlag } : (g?.verifier ?? { package: CONTAINS_WORD });
  const prompts = fromFlag(v["prompts"]) ?? fromRecipe(g?.prompts);
  if (prompts === undefined) throw new UsageError("grpo: missing --prompts <file> (or recipe.grpo.prompts)");
  const word = str(v["word"]) ?? g?.word;
  const tokenizer = fromFlag(v["tokenizer"]) ?? fromRecipe(recipe.tokenizer);
  const calSeqlen = intFlag(v["calibration-seqlen"], "--calibration-seqlen", 2);
  const calGroup = intFlag(v["calibration-group-size"], "--calibration-group-size", 2);
  const rc = g?.rewardCalibration;
  const rewardCalibration =
    v["no-calibration"] === true || (rc === false && calSeqlen === undefined && calGroup === undefined)
      ? undefined
      : {
          seqlen: calSeqlen ?? (rc || undefined)?.seqlen ?? GRPO_DEFAULTS.calibrationSeqlen,
          groupSize: calGroup ?? (rc || undefined)?.groupSize ?? GRPO_DEFAULTS.calibrationGroupSize,
        };
  // Paths of a verifier module: a flag is relative to the working directory, a recipe key to the recipe.
  const verifierBase =
    verifierFlag !== undefined || paths.recipeRef === undefined ? io.cwd : fromRecipe(".")!;
  const job: GrpoJob = {
    model,
    verifier,
    verifierBase,
    ...(word !== undefined ? { word } : {}),
    prompts,
    ...(tokenizer !== undefined ? { tokenizer } : {}),
    steps: intFlag(v["steps"], "--steps", 1) ?? g?.steps ?? GRPO_DEFAULTS.steps,
    groupSize: intFlag(v["group-size"], "--group-size", 2) ?? g?.groupSize ?? GRPO_DEFAULTS.groupSize,
    promptsPerStep:
      intFlag(v["prompts-per-step"], "--prompts-per-step", 1) ??
      g?.promptsPerStep ??
      GRPO_DEFAULTS.promptsPerStep,
    maxNewTokens:
      intFlag(v["max-new-tokens"], "--max-new-tokens", 1) ?? g?.maxNewTokens ?? GRPO_DEFAULTS.maxNewTokens,
    temperature:
      numFlag(v["temperature"], "--temperature", positive, "a number > 0") ??
      g?.temperature ??
      GRPO_DEFAULTS.temperature,
    topP:
      numFlag(v["top-p"], "--top-p", (x) => x > 0 && x <= 1, "a number in (0, 1]") ??
      g?.topP ??
      GRPO_DEFAULTS.topP,
    lr: numFlag(v["lr"], "--lr", positive, "a number > 0") ?? g?.lr ?? GRPO_DEFAULTS.lr,
    beta: numFlag(v["beta"], "--beta", (x) => x >= 0, "a number ≥ 0") ?? g?.beta ?? GRPO_DEFAULTS.beta,
    seed: intFlag(v["seed"], "--seed", 0) ?? g?.seed ?? GRPO_DEFAULTS.seed,
    ...scheduleSettings(v, g, GRPO_DEFAULTS),
    ...(rewardCalibration !== undefined ? { rewardCalibration } : {}),
    ...trainingOutput(
      "grpo",
      model,
      v,
      recipe,
      paths,
      v["split"] === true ? RECIPE_DEFAULTS.split : undefined,
    ),
    ...(paths.recipeRef !== undefined ? { recipe: paths.recipeRef } : {}),
  };
  const lenient = v["lenient"] === true || recipe.lenient === true;
  const r = await runGrpo(job, { io, quiet: flags.quiet, lenient, ...backendFlags(v) });
  if (flags.json) {
    jsonOut(io, {
      out: r.out,
      files: r.files,
      verifier: r.verifier,
      steps: r.report.steps,
      rewards: r.report.rewards,
      kls: r.report.kls,
      protocol: r.report.protocol,
      sparsity: r.sparsity,
      ...(r.calibration !== undefined ? { calibration: r.calibration } : {}),
      ...trainJsonTail(r),
    });
  } else io.stdout(formatGrpo(r));
  return EXIT_CODES.ok;
}

/** `mama-prune grpo`. */
export const GRPO_COMMAND: CommandSpec = {
  name: "grpo",
  summary: "GRPO post-training with a verifier plugin, plus reward-weighted calibration windows",
  usage: [
    "grpo <checkpoint> --prompts <file> [--verifier contains-word --word <w> | --verifier <package|path>] [flags]",
    "grpo --recipe <file> [<checkpoint>] [flags: each overrides the recipe key it names]",
  ],
  positionals: [
    {
      name: "<checkpoint>",
      description: "the model to post-train (dense or pruned: zeros stay zero) (else recipe.model)",
    },
  ],
  flags: {
    recipe: {
      type: "string",
      value: "<file>",
      description: "recipe (YAML or JSON) with a grpo: section; its paths are relative to the recipe file",
      default: "none",
    },
    prompts: {
      type: "string",
      value: "<file>",
      description: 'prompts: one per line, or .jsonl with a JSON string or { "prompt": … } per line',
      default: "recipe.grpo.prompts; required",
    },
    verifier: {
      type: "string",
      value: "<package|path>",
      description: `reward plugin: "${CONTAINS_WORD}" (built in) or a module exporting a VerifierPlugin (or a factory)`,
      default: `recipe.grpo.verifier, else ${CONTAINS_WORD}`,
    },
    word: {
      type: "string",
      value: "<word>",
      description: `the word the ${CONTAINS_WORD} verifier rewards (whole word, any case)`,
      default: "recipe.grpo.word; required for contains-word",
    },
    steps: {
      type: "string",
      value: "<n>",
      description: "optimizer steps",
      default: String(GRPO_DEFAULTS.steps),
    },
    "group-size": {
      type: "string",
      value: "<G>",
      description: "completions sampled per prompt (advantages compare a group)",
      default: String(GRPO_DEFAULTS.groupSize),
    },
    "prompts-per-step": {
      type: "string",
      value: "<n>",
      description: "prompts per step, used in order, cycling",
      default: String(GRPO_DEFAULTS.promptsPerStep),
    },
    "max-new-tokens": {
      type: "string",
      value: "<n>",
      description: "completion length cap",
      default: String(GRPO_DEFAULTS.maxNewTokens),
    },
    temperature: {
      type: "string",
      value: "<T>",
      description: "sampling temperature",
      default: String(GRPO_DEFAULTS.temperature),
    },
    "top-p": {
      type: "string",
      value: "<p>",
      description: "nucleus sampling mass",
      default: String(GRPO_DEFAULTS.topP),
    },
    lr: {
      type: "string",
      value: "<x>",
      description: "peak learning rate (AdamW)",
      default: String(GRPO_DEFAULTS.lr),
    },
    beta: {
      type: "string",
      value: "<β>",
      description: "KL coefficient (k3 estimator, to the start model)",
      default: String(GRPO_DEFAULTS.beta),
    },
    seed: {
      type: "string",
      value: "<n>",
      description: "seed of every sampling draw",
      default: String(GRPO_DEFAULTS.seed),
    },
    ...scheduleFlags({
      warmup: "0",
      minLr: "lr (constant)",
      weightDecay: GRPO_DEFAULTS.weightDecay,
      clipNorm: GRPO_DEFAULTS.clipNorm,
    }),
    "calibration-seqlen": {
      type: "string",
      value: "<n>",
      description: `tokens per reward-weighted calibration window (${REWARD_CALIBRATION_FILE})`,
      default: `recipe.grpo.rewardCalibration.seqlen, else ${GRPO_DEFAULTS.calibrationSeqlen}`,
    },
    "calibration-group-size": {
      type: "string",
      value: "<n>",
      description: "completions sampled per prompt for the calibration windows",
      default: String(GRPO_DEFAULTS.calibrationGroupSize),
    },
    "no-calibration": {
      type: "boolean",
      description: `write no ${REWARD_CALIBRATION_FILE}`,
      default: "false (recipe: rewardCalibration: false)",
    },
    split: {
      type: "boolean",
      description: `evaluate only the evaluation split of --eval (the first ${100 - 100 * RECIPE_DEFAULTS.split} % of paragraphs)`,
      default: "false (the whole text)",
    },
    ...TRAIN_OUTPUT_FLAGS,
  },
  notes: [
    `Each step samples G completions per prompt, rewards them with the verifier, and takes one AdamW step on
the DeepSeekMath GRPO loss with group-normalised advantages and β·k3 KL to the start model. Then the
post-trained model samples G completions per prompt that fill --calibration-seqlen tokens; each window's
weight is max(0, 1 + advantage), rescaled to mean 1. ${REWARD_CALIBRATION_FILE} holds
{ format, protocol, verifier, nsamples, seqlen, weights: [...], rewards, advantages, tokens: [[ids]] }
(the calibration windows and their per-sample weights, for a weighted MAMA prune). A verifier plugin
exports { name, apiVersion: 1, verify(prompt, completion) → number } (export "verifier", the default
export, or its only export; a function is called with the recipe's options). The folder also holds
config.json (mama_prune_grpo), model.safetensors, the tokenizer and training.json (provenance).`,
  ],
  examples: [
    "grpo data/stories260K/stories260K.bin --prompts prompts.txt --verifier contains-word --word park --steps 40 --out stories-grpo-park",
    "grpo wanda-50 --prompts prompts.jsonl --verifier ./my-verifier.js --beta 0.04 --lr 1e-4",
    "grpo --recipe grpo.yaml --steps 5",
  ],
  run: grpoCommand,
};
