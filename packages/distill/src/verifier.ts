// Verifier plugins (reward functions for post-training), group-normalised advantages and sampling
// a verified group of completions: shared by GRPO and reward-weighted calibration.
import { PruneError, truncateForMessage } from "@mama-prune/core";
import { type GenerateResult, generate, type LlamaModel, type Tokenizer } from "@mama-prune/model";

// ---- Verifier plugins ----

/**
 * A reward function for post-training: a plain object, like the scorer plugins. `verify` returns a
 * finite number (higher = better; binary tasks return 0 or 1).
 */
export interface VerifierPlugin {
  /** kebab-case; third parties use "scope/name". Shown in reports and errors. */
  readonly name: string;
  /** Contract version; only 1 exists. */
  readonly apiVersion: 1;
  /** Reward of one completion of one prompt. */
  verify(prompt: string, completion: string): number | Promise<number>;
}

/**
 * Check a verifier's metadata.
 *
 * @throws PruneError SCORER_API_UNSUPPORTED for a wrong apiVersion or a missing verify function.
 * @example
 * checkVerifier(containsWordVerifier("dog"));
 */
export function checkVerifier(v: VerifierPlugin): void {
  if (typeof v !== "object" || v === null || typeof v.verify !== "function" || typeof v.name !== "string") {
    throw new PruneError(
      "SCORER_API_UNSUPPORTED",
      `verifier: not a verifier plugin. Expected { name, apiVersion: 1, verify }, got ${truncateForMessage(v)}.`,
    );
  }
  if (v.apiVersion !== 1) {
    throw new PruneError(
      "SCORER_API_UNSUPPORTED",
      `verifier ${v.name}: unsupported apiVersion. Expected 1, got ${truncateForMessage(v.apiVersion)}.`,
    );
  }
}

/** The verifier's reward, checked to be a finite number. */
export async function reward(v: VerifierPlugin, prompt: string, completion: string): Promise<number> {
  const r = await v.verify(prompt, completion);
  if (typeof r !== "number" || !Number.isFinite(r)) {
    throw new PruneError(
      "SCORER_OUTPUT_INVALID",
      `verifier ${v.name}: reward is not a finite number. Expected a number, got ${truncateForMessage(r)}.`,
    );
  }
  return r;
}

/**
 * A verifiable task for story models: reward 1 when the completion uses `word` as a whole word
 * (case-insensitive), else 0. On the bundled stories260K, a word that base samples use rarely
 * gives a reward with room to rise.
 *
 * @throws RangeError when `word` is not a single word of letters.
 * @example
 * const v = containsWordVerifier("dog"); await v.verify("Once", " a dog ran."); // 1
 */
export function containsWordVerifier(word: string): VerifierPlugin {
  if (!/^[A-Za-z]+$/.test(word))
    throw new RangeError(`containsWordVerifier: word must be letters only, got "${word}"`);
  const re = new RegExp(`\\b${word}\\b`, "i");
  return {
    name: `contains-word-${word.toLowerCase()}`,
    apiVersion: 1,
    verify: (_p, c) => (re.test(c) ? 1 : 0),
  };
}

/**
 * Group-normalised advantages A_i = (r_i − mean(r)) / (std(r) + ε) (population std, as DeepSeekMath);
 * a group whose rewards are all equal gets zeros (no signal).
 *
 * @example
 * groupAdvantages([1, 0, 0, 1]); // Float64Array [1, -1, -1, 1] (up to ε)
 */
export function groupAdvantages(rewards: readonly number[], eps = 1e-6): Float64Array {
  const n = rewards.length;
  const out = new Float64Array(n); // (n,)
  if (n === 0) return out;
  let mean = 0;
  for (const r of rewards) mean += r;
  mean /= n;
  let v = 0;
  for (const r of rewards) v += (r - mean) ** 2;
  const std = Math.sqrt(v / n);
  for (let i = 0; i < n; i++) out[i] = (rewards[i]! - mean) / (std + eps);
  return out;
}

// ---- Sampling a group ----

/** One sampled completion of a group and its reward. */
export interface Sample {
  readonly prompt: string;
  readonly result: GenerateResult;
  readonly reward: number;
}

/** Sample `groupSize` completions of one prompt with seeded top-p and verify each. */
export async function sampleGroup(
  model: LlamaModel,
  tokenizer: Tokenizer,
  prompt: string,
  verifier: VerifierPlugin,
  groupSize: number,
  gen: { maxNewTokens: number; temperature: number; topP: number },
  seeds: () => number,
  signal: AbortSignal | undefined,
): Promise<Sample[]> {
  const out: Sample[] = [];
  for (let g = 0; g < groupSize; g++) {
    const result = await generate(model, tokenizer, prompt, {
      ...gen,
      seed: seeds(),
      ...(signal ? { signal } : {}),
    });
    out.push({ prompt, result, reward: await reward(verifier, prompt, result.completion) });
  }
  return out;
}
