// GRPO (group relative policy optimisation, DeepSeekMath 2024) with verifier plugins.
import {
  type ComputeBackend,
  createRng,
  createYielder,
  type Logger,
  PruneError,
  SILENT_LOGGER,
  truncateForMessage,
} from "@mama-prune/core";
import type { Tokenizer } from "@mama-prune/model";
import { type Grads, trainBackward, trainForward, zeroGrads } from "./engine.ts";
import { grpoLoss, tokenLogProbs } from "./losses.ts";
import { masksFromZeros, type ParamMasks, sparsityOf } from "./masks.ts";
import { clipGradNorm, createAdamW, learningRateAt } from "./optim.ts";
import { cloneParams, type LlamaParams, paramsToModel } from "./params.ts";
import { checkVerifier, groupAdvantages, sampleGroup, type VerifierPlugin } from "./verifier.ts";

// ---- GRPO ----

/** One GRPO step's numbers. */
export interface GrpoProgress {
  readonly step: number;
  readonly steps: number;
  /** Mean verifier reward of the completions sampled at this step (before the update). */
  readonly rewardMean: number;
  /** Mean k3 KL to the reference over completion tokens. */
  readonly kl: number;
  readonly lr: number;
  readonly gradNorm: number;
  /** Mean completion length in tokens. */
  readonly completionTokens: number;
  readonly elapsedMs: number;
}

/** Options of {@link grpo}. */
export interface GrpoOptions {
  /** The policy, trained in place. */
  readonly policy: LlamaParams;
  /** Frozen reference of the KL penalty (default: a copy of the policy at the start). */
  readonly reference?: LlamaParams;
  readonly tokenizer: Tokenizer;
  /** Prompts, used in order, `promptsPerStep` per step, cycling. */
  readonly prompts: readonly string[];
  readonly verifier: VerifierPlugin;
  readonly steps: number;
  /** Completions per prompt G (default 8). */
  readonly groupSize?: number;
  /** Prompts per step (default 1). */
  readonly promptsPerStep?: number;
  /** Completion length cap (default 48). */
  readonly maxNewTokens?: number;
  /** Sampling temperature (default 1) and nucleus mass (default 0.95), run.c's sampler. */
  readonly temperature?: number;
  readonly topP?: number;
  /** Peak learning rate (default 1e-3), warm-up (default 0) and cosine floor (default lr). */
  readonly lr?: number;
  readonly warmupSteps?: number;
  readonly minLr?: number;
  /** KL penalty β (default 0.04, DeepSeekMath's). */
  readonly beta?: number;
  /** Seed of every sampling draw (default 0). */
  readonly seed?: number;
  readonly weightDecay?: number;
  /** Global-norm clipping (default 1). */
  readonly clipNorm?: number;
  /** As in sft: zeros of the block linears stay zero by default. */
  readonly masks?: ParamMasks | "from-zeros" | "none";
  readonly backend?: ComputeBackend;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: GrpoProgress) => void;
  readonly logger?: Logger;
}

/** What a GRPO run did. */
export interface GrpoReport {
  readonly steps: number;
  /** Mean reward per step (of the samples that step trained on). */
  readonly rewards: readonly number[];
  /** Mean k3 KL per step. */
  readonly kls: readonly number[];
  readonly sparsityBefore: number;
  readonly sparsityAfter: number;
  readonly elapsedMs: number;
  readonly protocol: string;
}

/**
 * GRPO post-training: each step samples `groupSize` completions per prompt with the policy's
 * generator (seeded top-p), scores them with the verifier, turns rewards into group-normalised
 * advantages, and takes one AdamW step on
 * L = 1/(P·G) Σ_i 1/|o_i| Σ_t [−A_i·π_θ/π_old + β·k3(π_ref ‖ π_θ)]
 * (DeepSeekMath; one update per sampled batch, so π_old = π_θ and no clipping is needed). The stop
 * token is not part of o_i (the generator drops it), so the policy is not trained on where to stop.
 *
 * @throws RangeError for invalid options (including prompt + maxNewTokens beyond the context);
 *   PruneError SCORER_API_UNSUPPORTED / SCORER_OUTPUT_INVALID (verifier), TOKENIZER_MISMATCH,
 *   SHAPE_MISMATCH (reference vocabulary), NUMERIC_FAILURE, ABORTED.
 * @example
 * const report = await grpo({ policy, tokenizer, prompts: ["Once upon a time"],
 *   verifier: containsWordVerifier("dog"), steps: 50, groupSize: 8 });
 * report.rewards; // rising
 */
export async function grpo(options: GrpoOptions): Promise<GrpoReport> {
  const where = "grpo";
  const { policy, tokenizer, prompts, verifier, steps } = options;
  checkVerifier(verifier);
  const G = options.groupSize ?? 8;
  const P = options.promptsPerStep ?? 1;
  const maxNewTokens = options.maxNewTokens ?? 48;
  const temperature = options.temperature ?? 1;
  const topP = options.topP ?? 0.95;
  const lr = options.lr ?? 1e-3;
  const beta = options.beta ?? 0.04;
  const seed = options.seed ?? 0;
  for (const [label, v] of [
    ["steps", steps],
    ["groupSize", G],
    ["promptsPerStep", P],
    ["maxNewTokens", maxNewTokens],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0)
      throw new RangeError(`${where}: option ${label} must be a positive integer, got ${v}`);
  }
  if (G < 2)
    throw new RangeError(`${where}: option groupSize must be ≥ 2 (advantages compare a group), got ${G}`);
  if (!(temperature > 0))
    throw new RangeError(`${where}: option temperature must be > 0, got ${temperature}`);
  if (!(lr > 0)) throw new RangeError(`${where}: option lr must be > 0, got ${lr}`);
  if (!(beta >= 0)) throw new RangeError(`${where}: option beta must be ≥ 0, got ${beta}`);
  if (prompts.length === 0) throw new RangeError(`${where}: option prompts is empty`);
  if (tokenizer.vocabSize !== policy.config.vocabSize) {
    throw new PruneError(
      "TOKENIZER_MISMATCH",
      `${where}: tokenizer and policy vocabularies differ. Expected ${policy.config.vocabSize}, got ${tokenizer.vocabSize}.`,
    );
  }
  for (const p of prompts) {
    const n = tokenizer.encode(p, { bos: tokenizer.bosId !== undefined }).length;
    if (n + maxNewTokens > policy.config.maxPositionEmbeddings) {
      throw new RangeError(
        `${where}: prompt "${truncateForMessage(p, 40)}" (${n} tokens) + maxNewTokens ${maxNewTokens} exceeds the context ${policy.config.maxPositionEmbeddings}`,
      );
    }
  }
  if (options.reference && options.reference.config.vocabSize !== policy.config.vocabSize) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: reference and policy vocabularies differ. Expected ${policy.config.vocabSize}, got ${options.reference.config.vocabSize}.`,
    );
  }
  const backendOpt = options.backend ? { backend: options.backend } : {};
  const refModel = await paramsToModel(options.reference ?? cloneParams(policy), backendOpt);
  const masks =
    options.masks === "none"
      ? undefined
      : options.masks === undefined || options.masks === "from-zeros"
        ? masksFromZeros(policy)
        : options.masks;
  const sparsityBefore = sparsityOf(policy);
  const opt = createAdamW(policy, { weightDecay: options.weightDecay ?? 0, ...(masks ? { masks } : {}) });
  const schedule = {
    lr,
    totalSteps: steps,
    warmupSteps: options.warmupSteps ?? 0,
    minLr: options.minLr ?? lr,
  };
  const clip = options.clipNorm ?? 1;
  const log = options.logger ?? SILENT_LOGGER;
  const rng = createRng(seed);
  const seeds = (): number => rng.int(2 ** 31 - 1);
  const rewards: number[] = [];
  const kls: number[] = [];
  const V = policy.config.vocabSize;
  const t0 = performance.now();
  const tick = createYielder(options.signal); // a turn for Ctrl-C and timers, then the abort check
  for (let step = 0; step < steps; step++) {
    await tick(`${where} (step ${step})`);
    const model = await paramsToModel(policy, backendOpt); // snapshot = π_old
    const grads: Grads = zeroGrads(policy);
    let rewardSum = 0;
    let klSum = 0;
    let klTokens = 0;
    let lenSum = 0;
    let nSamples = 0;
    for (let j = 0; j < P; j++) {
      const prompt = prompts[(step * P + j) % prompts.length]!;
      const group = await sampleGroup(
        model,
        tokenizer,
        prompt,
        verifier,
        G,
        { maxNewTokens, temperature, topP },
        seeds,
        options.signal,
      );
      const adv = groupAdvantages(group.map((s) => s.reward));
      for (let i = 0; i < G; i++) {
        await tick(`${where} (step ${step}, prompt ${j}, sample ${i})`);
        const s = group[i]!;
        rewardSum += s.reward;
        nSamples++;
        const comp = s.result.tokens;
        lenSum += comp.length;
        if (comp.length === 0 || (adv[i] === 0 && beta === 0)) continue;
        const seq = Int32Array.from([...s.result.promptTokens, ...comp]);
        const n = seq.length;
        const start = s.result.promptTokens.length - 1; // row predicting the first completion token
        const targets = new Int32Array(n).fill(-1); // (n,)
        for (let t = 0; t < comp.length; t++) targets[start + t] = comp[t]!;
        const refLogits = await refModel.forward(seq, 1, n); // (n, V)
        const refLp = tokenLogProbs(refLogits, targets, n, V);
        for (let r = 0; r < n; r++) if (Number.isNaN(refLp[r]!)) refLp[r] = 0;
        const rowScale = new Float64Array(n); // (n,)
        const advantages = new Float64Array(n); // (n,)
        for (let t = 0; t < comp.length; t++) {
          rowScale[start + t] = 1 / (P * G * comp.length);
          advantages[start + t] = adv[i]!;
        }
        const { logits, tape } = await trainForward(policy, seq, 1, n, backendOpt);
        const res = grpoLoss(logits, n, V, { targets, advantages, refLogProbs: refLp, beta, rowScale });
        klSum += res.kl * P * G * comp.length;
        klTokens += comp.length;
        await trainBackward(tape, res.dLogits, grads);
      }
    }
    const gradNorm = Number.isFinite(clip) ? clipGradNorm(grads, clip) : Number.NaN;
    const lrNow = learningRateAt(step, schedule);
    opt.step(grads, lrNow);
    const rewardMean = rewardSum / nSamples;
    const kl = klTokens > 0 ? klSum / klTokens : 0;
    rewards.push(rewardMean);
    kls.push(kl);
    const p: GrpoProgress = {
      step: step + 1,
      steps,
      rewardMean,
      kl,
      lr: lrNow,
      gradNorm,
      completionTokens: lenSum / nSamples,
      elapsedMs: performance.now() - t0,
    };
    options.onProgress?.(p);
    log.info(
      `${where}: step ${step + 1}/${steps} reward ${rewardMean.toFixed(3)} kl ${kl.toExponential(2)}`,
      { ...p },
    );
  }
  return {
    steps,
    rewards,
    kls,
    sparsityBefore,
    sparsityAfter: sparsityOf(policy),
    elapsedMs: performance.now() - t0,
    protocol:
      `grpo: ${steps} steps × ${P} prompt(s) × ${G} completions (≤ ${maxNewTokens} tokens, temperature ${temperature}, top-p ${topP}, seed ${seed}); ` +
      `verifier ${verifier.name}; β ${beta} (k3); AdamW lr ${lr} (warm-up ${schedule.warmupSteps}, cosine→${schedule.minLr}), clip ${clip}; masks ${masks ? `${masks.size} tensors` : "none"}`,
  };
}
