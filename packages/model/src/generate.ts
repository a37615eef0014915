import { createRng, type Rng, throwIfAborted } from "@mama-prune/core";
import type { LlamaModel } from "./llama.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** Most new tokens to produce (generation also stops at EOS/BOS or when the context is full). */
  readonly maxNewTokens: number;
  /** Softmax temperature; 0 (default) = greedy argmax. */
  readonly temperature?: number;
  /** Nucleus sampling mass in (0, 1]; 1 or absent = sample from the full distribution. */
  readonly topP?: number;
  /** RNG seed for sampling (default 0). Same seed, same output. */
  readonly seed?: number;
  /** Cancels between tokens (rejects with ABORTED). */
  readonly signal?: AbortSignal;
}

/** Result of {@link generate}. */
export interface GenerateResult {
  /** Prompt and continuation decoded together (what run.c prints). */
  readonly text: string;
  /** The generated token ids only (no prompt, no stop token). */
  readonly tokens: number[];
  /** The continuation alone, decoded. */
  readonly completion: string;
  /** The prompt's token ids as fed to the model (with BOS when the tokenizer has one). */
  readonly promptTokens: number[];
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** run.c's sample_topp: smallest set of most likely tokens whose mass exceeds topP, then sample in it. */
function sampleTopP(probs: Float64Array, topP: number, coin: number): number {
  const n = probs.length;
  const cutoff = (1 - topP) / (n - 1);
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (probs[i]! >= cutoff) idx.push(i);
  idx.sort((a, b) => probs[b]! - probs[a]! || a - b);
  let cum = 0;
  let last = idx.length - 1;
  for (let i = 0; i < idx.length; i++) {
    cum += probs[idx[i]!]!;
    if (cum > topP) {
      last = i;
      break;
    }
  }
  const r = coin * cum;
  let cdf = 0;
  for (let i = 0; i <= last; i++) {
    cdf += probs[idx[i]!]!;
    if (r < cdf) return idx[i]!;
  }
  return idx[last]!;
}

function sample(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  if (temperature === 0) return argmax(logits);
  const n = logits.length;
  const probs = new Float64Array(n); // (vocab,)
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]! / temperature);
  let z = 0;
  for (let i = 0; i < n; i++) {
    probs[i] = Math.exp(logits[i]! / temperature - max);
    z += probs[i]!;
  }
  for (let i = 0; i < n; i++) probs[i] = probs[i]! / z;
  const coin = rng.next();
  if (topP > 0 && topP < 1) return sampleTopP(probs, topP, coin);
  let cdf = 0;
  for (let i = 0; i < n; i++) {
    cdf += probs[i]!;
    if (coin < cdf) return i;
  }
  return n - 1;
}

/**
 * Continue a prompt with the model: greedy (temperature 0) or temperature / top-p sampling with a
 * seeded RNG (run.c's sampler). Uses the model's key/value cache ({@link LlamaModel.createSequence}),
 * so each new token costs one incremental step, not a full recompute. The prompt is encoded with
 * BOS when the tokenizer has one; generation stops after `maxNewTokens`, at EOS or BOS (run.c's
 * delimiter), or when the context (`maxPositionEmbeddings`) is full.
 *
 * @throws RangeError for an invalid option (maxNewTokens not a non-negative integer, temperature < 0,
 *   topP outside (0, 1]) or an empty prompt encoding; PruneError ABORTED when the signal fires.
 * @example
 * const { text } = await generate(model, tokenizer, "Once upon a time", { maxNewTokens: 20 });
 * text; // "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
 */
export async function generate(
  model: LlamaModel,
  tokenizer: Tokenizer,
  prompt: string,
  options: GenerateOptions,
): Promise<GenerateResult> {
  const where = "generate";
  const { maxNewTokens, temperature = 0, topP = 1, seed = 0, signal } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new RangeError(`${where}: maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
  }
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new RangeError(`${where}: temperature must be a finite number ≥ 0, got ${temperature}`);
  }
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`${where}: topP must be in (0, 1], got ${topP}`);
  const rng = createRng(seed);
  const promptTokens = Array.from(tokenizer.encode(prompt, { bos: tokenizer.bosId !== undefined }));
  if (promptTokens.length === 0) throw new RangeError(`${where}: the prompt encodes to no tokens`);
  const maxLen = model.config.maxPositionEmbeddings;
  if (promptTokens.length > maxLen) {
    throw new RangeError(
      `${where}: the prompt has ${promptTokens.length} tokens, more than the context ${maxLen}`,
    );
  }
  const seq = model.createSequence();
  const tokens: number[] = [];
  throwIfAborted(signal, where);
  let logits = maxNewTokens > 0 ? await seq.append(Int32Array.from(promptTokens)) : undefined;
  while (logits !== undefined && tokens.length < maxNewTokens) {
    throwIfAborted(signal, where);
    const next = sample(logits, temperature, topP, rng);
    if (next === tokenizer.eosId || next === tokenizer.bosId) break;
    tokens.push(next);
    if (tokens.length >= maxNewTokens || seq.length >= maxLen) break;
    logits = await seq.append(Int32Array.of(next));
  }
  return {
    text: tokenizer.decode([...promptTokens, ...tokens]),
    tokens,
    completion: tokenizer.decode(tokens),
    promptTokens,
  };
}
