// ---- `mama-prune grpo`: GRPO post-training with a verifier plugin, and reward-weighted calibration ----

import { basename } from "node:path";
import { isPruneError, PruneError } from "@mama-prune/core";
import {
  type GrpoReport,
  grpo,
  paramsToModel,
  type RewardCalibration,
  rewardWeightedCalibration,
} from "@mama-prune/distill";
import type { PerplexityResult } from "@mama-prune/eval";
import { readText } from "../inputs.ts";
import type { PluginSpec } from "../recipe.ts";
import { loadVerifier } from "../verifier-plugin.ts";
import { type CommandContext, stepped, warn, withBackend } from "./context.ts";
import {
  checkMasks,
  ends,
  evalResult,
  evalText,
  evaluateParams,
  formatTrained,
  type MaskCheck,
  optionalInputs,
  preflightTrained,
  provenanceTail,
  readTrainModel,
  startMasks,
  type TrainEvalSpec,
  type TrainedFolderSpec,
  trainProgress,
  writeTrainedFolder,
} from "./train-output.ts";

/** File name of the reward-weighted calibration written into a grpo folder. */
export const REWARD_CALIBRATION_FILE = "reward-calibration.json";

/**
 * Settings `grpo` uses when neither a flag nor the recipe gives one: `@mama-prune/distill`'s `grpo`
 * defaults (G 8, 1 prompt per step, 48 new tokens, temperature 1, top-p 0.95, lr 1e-3, β 0.04, no
 * warm-up, constant lr), and 40 steps (the package README's GRPO run); the reward-weighted
 * calibration samples G = 8 windows of 64 tokens per prompt.
 */
export const GRPO_DEFAULTS: Readonly<{
  steps: number;
  groupSize: number;
  promptsPerStep: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  lr: number;
  beta: number;
  seed: number;
  weightDecay: number;
  clipNorm: number;
  calibrationSeqlen: number;
  calibrationGroupSize: number;
}> = {
  steps: 40,
  groupSize: 8,
  promptsPerStep: 1,
  maxNewTokens: 48,
  temperature: 1,
  topP: 0.95,
  lr: 1e-3,
  beta: 0.04,
  seed: 0,
  weightDecay: 0,
  clipNorm: 1,
  calibrationSeqlen: 64,
  calibrationGroupSize: 8,
};

/** Everything `grpo` needs (paths resolved). */
export interface GrpoJob {
  readonly model: string;
  readonly tokenizer?: string;
  readonly verifier: PluginSpec;
  readonly word?: string;
  /** Directory verifier packages are resolved from. */
  readonly verifierBase: string;
  readonly prompts: string;
  readonly steps: number;
  readonly groupSize: number;
  readonly promptsPerStep: number;
  readonly maxNewTokens: number;
  readonly temperature: number;
  readonly topP: number;
  readonly lr: number;
  readonly beta: number;
  readonly seed: number;
  readonly warmupSteps?: number;
  readonly minLr?: number;
  readonly weightDecay: number;
  readonly clipNorm: number;
  /** Reward-weighted calibration written beside the model; absent: none. */
  readonly rewardCalibration?: { readonly seqlen: number; readonly groupSize: number };
  readonly eval?: TrainEvalSpec;
  readonly output: TrainedFolderSpec;
  readonly recipe?: { readonly path: string; readonly content: unknown };
}

/** What `grpo` did. */
export interface GrpoCommandResult {
  readonly out: string;
  readonly files: readonly string[];
  readonly verifier: string;
  readonly report: GrpoReport;
  readonly sparsity: MaskCheck;
  readonly calibration?: { readonly file: string; readonly nsamples: number; readonly protocol: string };
  readonly eval?: { readonly before: PerplexityResult; readonly after: PerplexityResult };
  readonly backend: string;
}

/**
 * Prompts from a file: JSONL (`.jsonl`: one JSON string or `{ "prompt": "…" }` per line) or text
 * (one prompt per non-empty line).
 *
 * @throws PruneError CALIBRATION_INVALID naming the file and line for a malformed line or no prompt.
 */
export async function readPrompts(path: string): Promise<string[]> {
  const text = await readText(path, "prompts", "CALIBRATION_INVALID");
  const lines = text.split(/\r?\n/);
  const out: string[] = [];
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "") continue;
    if (!path.endsWith(".jsonl")) {
      out.push(line);
      continue;
    }
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      v = undefined;
    }
    const p = typeof v === "string" ? v : (v as { prompt?: unknown } | undefined)?.prompt;
    if (typeof p !== "string" || p.trim() === "") {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${path}:${i + 1}: not a prompt. Expected a JSON string or { "prompt": "…" } per line, got ${JSON.stringify(line.slice(0, 40))}.`,
      );
    }
    out.push(p);
  }
  if (out.length === 0) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `${path}: no prompts. Expected at least one non-empty line, got none.`,
    );
  }
  return out;
}

/** The bytes of reward-calibration.json (windows, rewards, advantages, weights, protocol). */
function rewardCalibrationJson(c: RewardCalibration, verifier: string): Uint8Array {
  const windows: number[][] = [];
  for (let i = 0; i < c.nsamples; i++)
    windows.push(Array.from(c.tokens.subarray(i * c.seqlen, (i + 1) * c.seqlen)));
  const record = {
    format: "mama-prune reward-weighted calibration v1",
    protocol: c.protocol,
    verifier,
    nsamples: c.nsamples,
    seqlen: c.seqlen,
    weights: Array.from(c.sampleWeights),
    rewards: Array.from(c.rewards),
    advantages: Array.from(c.advantages),
    tokens: windows,
  };
  return new TextEncoder().encode(`${JSON.stringify(record)}\n`);
}

/**
 * `mama-prune grpo`: GRPO post-training of a checkpoint (`@mama-prune/distill`'s `grpo`: G sampled
 * completions per prompt, verifier rewards, group-normalised advantages, k3 KL to the start model;
 * pruned weights stay zero), then reward-weighted calibration windows from the post-trained model
 * (reward-calibration.json), written as a folder like `prune` writes.
 *
 * @throws PruneError input errors (TENSOR_IO_*, TOKENIZER_*, SCORER_* for the verifier,
 *   CALIBRATION_INVALID for prompts), TENSOR_IO_EXISTS (checked before any work), NUMERIC_FAILURE,
 *   MASK_INVALID, ABORTED.
 * @example
 * await runGrpo({ model: "stories260K.bin", verifier: { package: "contains-word" }, word: "park", … }, { io });
 */
export async function runGrpo(job: GrpoJob, ctx: CommandContext): Promise<GrpoCommandResult> {
  await preflightTrained(job.output, [job.model], job.model);
  const signal = ctx.io.signal;
  const verifier = await loadVerifier(job.verifier, job.verifierBase, job.word);
  const prompts = await readPrompts(job.prompts);
  const { tok, params: policy } = await readTrainModel(ctx, job.model, job.tokenizer, "reading the model");
  const evalT = await evalText(job.eval);
  const start = startMasks(policy);
  const result = await withBackend(ctx, async (backend) => {
    const before = await evaluateParams(ctx, policy, backend, tok, evalT, "before grpo");
    const progress = trainProgress(ctx, "grpo");
    let report: GrpoReport;
    try {
      report = await grpo({
        policy,
        tokenizer: tok.tokenizer,
        prompts,
        verifier,
        steps: job.steps,
        groupSize: job.groupSize,
        promptsPerStep: job.promptsPerStep,
        maxNewTokens: job.maxNewTokens,
        temperature: job.temperature,
        topP: job.topP,
        lr: job.lr,
        beta: job.beta,
        seed: job.seed,
        weightDecay: job.weightDecay,
        clipNorm: job.clipNorm,
        ...(job.warmupSteps !== undefined ? { warmupSteps: job.warmupSteps } : {}),
        ...(job.minLr !== undefined ? { minLr: job.minLr } : {}),
        masks: start.masks,
        backend,
        ...(signal !== undefined ? { signal } : {}),
        onProgress: (p) =>
          progress.update(p.step, p.steps, `reward ${p.rewardMean.toFixed(3)}  kl ${p.kl.toExponential(2)}`),
      });
    } catch (e) {
      // Option errors of the library (prompt + new tokens beyond the context, …): one input error line.
      if (e instanceof RangeError) throw new PruneError("CALIBRATION_INVALID", e.message, { cause: e });
      throw e;
    } finally {
      progress.finish();
    }
    let calibration: RewardCalibration | undefined;
    if (job.rewardCalibration !== undefined) {
      try {
        calibration = await stepped(ctx, "reward-weighted calibration", async () =>
          rewardWeightedCalibration({
            model: await paramsToModel(policy, { backend }),
            tokenizer: tok.tokenizer,
            prompts,
            verifier,
            seqlen: job.rewardCalibration!.seqlen,
            groupSize: job.rewardCalibration!.groupSize,
            temperature: job.temperature,
            topP: job.topP,
            seed: job.seed,
            ...(signal !== undefined ? { signal } : {}),
          }),
        );
      } catch (e) {
        if (!isPruneError(e, "CALIBRATION_INVALID") && !(e instanceof RangeError)) throw e;
        warn(ctx, `no ${"reward-calibration.json"} written: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const after = await evaluateParams(ctx, policy, backend, tok, evalT, "after grpo");
    return { report, before, after, calibration, backend: backend.name };
  });
  const { report, before, after, calibration, backend } = result;
  const sparsity = checkMasks("grpo", policy, start.masks, start.zeros);
  const files = await writeTrainedFolder(ctx, {
    command: "grpo",
    folder: job.output,
    params: policy,
    modelPath: job.model,
    tokenizer: tok,
    configExtra: {
      mama_prune_grpo: { verifier: verifier.name, prompts: basename(job.prompts), protocol: report.protocol },
    },
    extraFiles:
      calibration !== undefined
        ? [{ file: REWARD_CALIBRATION_FILE, data: rewardCalibrationJson(calibration, verifier.name) }]
        : [],
    inputs: [
      { role: "model", path: job.model },
      { role: "prompts", path: job.prompts },
      { role: "tokenizer", path: tok.path },
      ...optionalInputs(job.eval?.text, job.recipe),
    ],
    head: {
      command: "grpo",
      verifier: {
        name: verifier.name,
        given: job.verifier,
        ...(job.word !== undefined ? { word: job.word } : {}),
      },
      settings: {
        steps: job.steps,
        groupSize: job.groupSize,
        promptsPerStep: job.promptsPerStep,
        maxNewTokens: job.maxNewTokens,
        temperature: job.temperature,
        topP: job.topP,
        lr: job.lr,
        beta: job.beta,
        seed: job.seed,
        warmupSteps: job.warmupSteps ?? null,
        minLr: job.minLr ?? null,
        weightDecay: job.weightDecay,
        clipNorm: job.clipNorm,
        rewardCalibration: job.rewardCalibration ?? null,
      },
      protocol: report.protocol,
      rewards: report.rewards,
      kls: report.kls,
      sparsity,
      calibration:
        calibration !== undefined ? { nsamples: calibration.nsamples, protocol: calibration.protocol } : null,
      ...(await provenanceTail({ before, after, backend, recipe: job.recipe, modelPath: job.model })),
    },
  });
  return {
    out: job.output.out,
    files,
    verifier: verifier.name,
    report,
    sparsity,
    ...(calibration !== undefined
      ? {
          calibration: {
            file: REWARD_CALIBRATION_FILE,
            nsamples: calibration.nsamples,
            protocol: calibration.protocol,
          },
        }
      : {}),
    ...evalResult(before, after),
    backend,
  };
}

/**
 * Human-readable summary of a GRPO run.
 *
 * @example
 * io.stdout(formatGrpo(await runGrpo(job, { io })));
 */
export function formatGrpo(r: GrpoCommandResult): string {
  const rw = ends(r.report.rewards);
  return formatTrained(
    r,
    `grpo ${r.report.steps} steps with verifier ${r.verifier}: reward ${rw.first.toFixed(3)} → ${rw.last.toFixed(3)} (mean of the first / last tenth of the steps), final KL ${(r.report.kls.at(-1) ?? 0).toExponential(2)} nat/token`,
    r.calibration !== undefined ? [`${r.calibration.file}: ${r.calibration.protocol}`] : [],
  );
}
