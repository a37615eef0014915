// Reward-verified calibration samples for MAMA's weighted statistics.
import { createRng, PruneError, truncateForMessage } from "@mama-prune/core";
import type { LlamaModel, Tokenizer } from "@mama-prune/model";
import { checkVerifier, groupAdvantages, sampleGroup, type VerifierPlugin } from "./verifier.ts";

// ---- Reward-verified calibration ----

/** Options of {@link rewardWeightedCalibration}. */
export interface RewardCalibrationOptions {
  readonly model: LlamaModel;
  readonly tokenizer: Tokenizer;
  readonly prompts: readonly string[];
  readonly verifier: VerifierPlugin;
  /** Window length in tokens (prompt + completion; BOS included when the tokenizer has one). */
  readonly seqlen: number;
  /** Completions sampled per prompt (default 8). */
  readonly groupSize?: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly seed?: number;
  readonly signal?: AbortSignal;
}

/** Calibration windows with reward-derived sample weights (the pipeline's `calibration` + `sampleWeights`). */
export interface RewardCalibration {
  /** Windows (nsamples, seqlen), row-major. */
  readonly tokens: Int32Array;
  readonly nsamples: number;
  readonly seqlen: number;
  /** Verifier reward of each window's completion. */
  readonly rewards: Float64Array;
  /** Group-normalised advantage of each window (within its prompt's group). */
  readonly advantages: Float64Array;
  /** Sample weights ≥ 0 with mean 1: max(0, 1 + A) rescaled (see the README for why). */
  readonly sampleWeights: Float32Array;
  readonly protocol: string;
}

/**
 * Reward-verified calibration for MAMA: for each prompt, sample `groupSize` completions that fill a
 * window of `seqlen` tokens (generation runs to `seqlen − promptTokens` new tokens; completions that
 * stop early are dropped from the windows but still count in their group's statistics), verify
 * them, and weight each window by its group-normalised advantage: w = max(0, 1 + A), rescaled to
 * mean 1, so windows the verifier rewarded count more and the worst count zero.
 *
 * @throws PruneError CALIBRATION_INVALID when no completion fills a window, or all weights are 0;
 *   the verifier's errors; RangeError for invalid options.
 * @example
 * const cal = await rewardWeightedCalibration({ model, tokenizer, prompts, verifier, seqlen: 64 });
 * await prune({ ..., calibration: cal, sampleWeights: cal.sampleWeights });
 */
export async function rewardWeightedCalibration(
  options: RewardCalibrationOptions,
): Promise<RewardCalibration> {
  const where = "rewardWeightedCalibration";
  const { model, tokenizer, prompts, verifier, seqlen } = options;
  checkVerifier(verifier);
  const G = options.groupSize ?? 8;
  const temperature = options.temperature ?? 1;
  const topP = options.topP ?? 0.95;
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seqlen) || seqlen < 2)
    throw new RangeError(`${where}: option seqlen must be an integer ≥ 2, got ${seqlen}`);
  if (!Number.isInteger(G) || G < 2)
    throw new RangeError(`${where}: option groupSize must be an integer ≥ 2, got ${G}`);
  if (prompts.length === 0) throw new RangeError(`${where}: option prompts is empty`);
  const rng = createRng(seed);
  const windows: Int32Array[] = [];
  const rewardsKept: number[] = [];
  const advKept: number[] = [];
  let sampled = 0;
  for (const prompt of prompts) {
    const n = tokenizer.encode(prompt, { bos: tokenizer.bosId !== undefined }).length;
    if (n >= seqlen) {
      throw new RangeError(
        `${where}: prompt "${truncateForMessage(prompt, 40)}" has ${n} tokens, not fewer than seqlen ${seqlen}`,
      );
    }
    const group = await sampleGroup(
      model,
      tokenizer,
      prompt,
      verifier,
      G,
      { maxNewTokens: seqlen - n, temperature, topP },
      () => rng.int(2 ** 31 - 1),
      options.signal,
    );
    sampled += G;
    const adv = groupAdvantages(group.map((s) => s.reward));
    group.forEach((s, i) => {
      const all = [...s.result.promptTokens, ...s.result.tokens];
      if (all.length < seqlen) return;
      windows.push(Int32Array.from(all.slice(0, seqlen)));
      rewardsKept.push(s.reward);
      advKept.push(adv[i]!);
    });
  }
  if (windows.length === 0) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `${where}: no completion filled a window. Expected completions of ${seqlen} tokens, got ${sampled} shorter ones (lower seqlen?).`,
    );
  }
  const raw = advKept.map((a) => Math.max(0, 1 + a));
  const mean = raw.reduce((a, b) => a + b, 0) / raw.length;
  if (!(mean > 0)) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `${where}: every sample weight is zero. Expected at least one positive weight, got all zeros.`,
    );
  }
  const tokens = new Int32Array(windows.length * seqlen); // (nsamples, seqlen)
  for (const [i, w] of windows.entries()) tokens.set(w, i * seqlen);
  const meanReward = rewardsKept.reduce((a, b) => a + b, 0) / rewardsKept.length;
  return {
    tokens,
    nsamples: windows.length,
    seqlen,
    rewards: Float64Array.from(rewardsKept),
    advantages: Float64Array.from(advKept),
    sampleWeights: Float32Array.from(raw, (r) => r / mean),
    protocol:
      `reward-weighted calibration: ${prompts.length} prompt(s) × ${G} completions (temperature ${temperature}, top-p ${topP}, seed ${seed}), ` +
      `${windows.length}/${sampled} filled ${seqlen}-token windows; verifier ${verifier.name}, mean reward ${meanReward.toFixed(3)}; weights max(0, 1 + A), mean 1`,
  };
}
