// ---- The recipe sections of the training commands: `distill:` and `grpo:` ----

import type { PluginSpec } from "./recipe.ts";
import { fail, int, isObj, num, obj, pluginSpec, str } from "./recipe-checks.ts";

/** Settings both training commands share (the optimizer and its schedule). */
export interface TrainRecipeCommon {
  /** Optimizer steps. */
  readonly steps?: number;
  /** Peak learning rate. */
  readonly lr?: number;
  readonly seed?: number;
  /** Linear warm-up steps. */
  readonly warmupSteps?: number;
  /** Cosine floor of the learning rate. */
  readonly minLr?: number;
  /** AdamW decoupled weight decay on matrices. */
  readonly weightDecay?: number;
  /** Global-norm gradient clipping. */
  readonly clipNorm?: number;
}

/** `distill:` — knowledge distillation of the recipe's `model` (the pruned student). */
export interface DistillRecipe extends TrainRecipeCommon {
  /** The dense teacher checkpoint. */
  readonly teacher: string;
  /** UTF-8 training text. */
  readonly text: string;
  /** Tokens per training window. */
  readonly seqlen?: number;
  /** Windows per step. */
  readonly batch?: number;
  /** Distillation temperature T. */
  readonly temperature?: number;
  /** Weight α of next-token cross-entropy: loss = (1−α)·T²·KL + α·CE. */
  readonly alpha?: number;
  /** Train on the calibration split (the last `split` of paragraphs) and evaluate on the rest. */
  readonly split?: number;
}

/** `grpo:` — GRPO post-training of the recipe's `model` with a verifier plugin. */
export interface GrpoRecipe extends TrainRecipeCommon {
  /** "contains-word" (built in, with `word`) or a verifier plugin package / module path. */
  readonly verifier: PluginSpec;
  /** The word of the built-in contains-word verifier. */
  readonly word?: string;
  /** Prompts: a text file (one per line) or JSONL (strings or `{ "prompt": … }`). */
  readonly prompts: string;
  readonly groupSize?: number;
  readonly promptsPerStep?: number;
  readonly maxNewTokens?: number;
  readonly temperature?: number;
  readonly topP?: number;
  /** KL penalty coefficient β. */
  readonly beta?: number;
  /** Reward-weighted calibration written with the model: `false` for none. */
  readonly rewardCalibration?: false | { readonly seqlen?: number; readonly groupSize?: number };
}

const COMMON = ["steps", "lr", "seed", "warmupSteps", "minLr", "weightDecay", "clipNorm"] as const;

const positive = (x: number): boolean => x > 0;

function common(o: Record<string, unknown>, p: string): TrainRecipeCommon {
  const out: { -readonly [K in keyof TrainRecipeCommon]: TrainRecipeCommon[K] } = {};
  if (o["steps"] !== undefined) out.steps = int(o["steps"], `${p}.steps`, 1);
  if (o["lr"] !== undefined) out.lr = num(o["lr"], `${p}.lr`, positive, "a number > 0");
  if (o["seed"] !== undefined) out.seed = int(o["seed"], `${p}.seed`, 0);
  if (o["warmupSteps"] !== undefined) out.warmupSteps = int(o["warmupSteps"], `${p}.warmupSteps`, 0);
  if (o["minLr"] !== undefined) out.minLr = num(o["minLr"], `${p}.minLr`, (x) => x >= 0, "a number ≥ 0");
  if (o["weightDecay"] !== undefined) {
    out.weightDecay = num(o["weightDecay"], `${p}.weightDecay`, (x) => x >= 0, "a number ≥ 0");
  }
  if (o["clipNorm"] !== undefined)
    out.clipNorm = num(o["clipNorm"], `${p}.clipNorm`, positive, "a number > 0");
  return out;
}

/** Validate `recipe.distill`. */
export function distillRecipe(v: unknown, p: string): DistillRecipe {
  const o = obj(v, p, ["teacher", "text", ...COMMON, "seqlen", "batch", "temperature", "alpha", "split"]);
  return {
    teacher: str(o["teacher"], `${p}.teacher`),
    text: str(o["text"], `${p}.text`),
    ...common(o, p),
    ...(o["seqlen"] !== undefined ? { seqlen: int(o["seqlen"], `${p}.seqlen`, 1) } : {}),
    ...(o["batch"] !== undefined ? { batch: int(o["batch"], `${p}.batch`, 1) } : {}),
    ...(o["temperature"] !== undefined
      ? { temperature: num(o["temperature"], `${p}.temperature`, positive, "a number > 0") }
      : {}),
    ...(o["alpha"] !== undefined
      ? { alpha: num(o["alpha"], `${p}.alpha`, (x) => x >= 0 && x <= 1, "a number in [0, 1]") }
      : {}),
    ...(o["split"] !== undefined
      ? { split: num(o["split"], `${p}.split`, (x) => x > 0 && x < 1, "a fraction in (0, 1)") }
      : {}),
  };
}

/** Validate `recipe.grpo`. */
export function grpoRecipe(v: unknown, p: string): GrpoRecipe {
  const o = obj(v, p, [
    "verifier",
    "word",
    "prompts",
    ...COMMON,
    "groupSize",
    "promptsPerStep",
    "maxNewTokens",
    "temperature",
    "topP",
    "beta",
    "rewardCalibration",
  ]);
  const out: { -readonly [K in keyof GrpoRecipe]: GrpoRecipe[K] } = {
    verifier: pluginSpec(o["verifier"], `${p}.verifier`),
    prompts: str(o["prompts"], `${p}.prompts`),
    ...common(o, p),
  };
  if (o["word"] !== undefined) {
    const w = str(o["word"], `${p}.word`);
    if (!/^[A-Za-z]+$/.test(w)) fail(`${p}.word`, "a single word of letters", w);
    out.word = w;
  }
  if (o["groupSize"] !== undefined) out.groupSize = int(o["groupSize"], `${p}.groupSize`, 2);
  if (o["promptsPerStep"] !== undefined)
    out.promptsPerStep = int(o["promptsPerStep"], `${p}.promptsPerStep`, 1);
  if (o["maxNewTokens"] !== undefined) out.maxNewTokens = int(o["maxNewTokens"], `${p}.maxNewTokens`, 1);
  if (o["temperature"] !== undefined) {
    out.temperature = num(o["temperature"], `${p}.temperature`, positive, "a number > 0");
  }
  if (o["topP"] !== undefined) {
    out.topP = num(o["topP"], `${p}.topP`, (x) => x > 0 && x <= 1, "a number in (0, 1]");
  }
  if (o["beta"] !== undefined) out.beta = num(o["beta"], `${p}.beta`, (x) => x >= 0, "a number ≥ 0");
  const rc = o["rewardCalibration"];
  if (rc === false) out.rewardCalibration = false;
  else if (rc !== undefined) {
    const q = `${p}.rewardCalibration`;
    if (!isObj(rc)) fail(q, "false or a mapping", rc);
    const c = obj(rc, q, ["seqlen", "groupSize"]);
    out.rewardCalibration = {
      ...(c["seqlen"] !== undefined ? { seqlen: int(c["seqlen"], `${q}.seqlen`, 2) } : {}),
      ...(c["groupSize"] !== undefined ? { groupSize: int(c["groupSize"], `${q}.groupSize`, 2) } : {}),
    };
  }
  return out;
}
