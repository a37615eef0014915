// Training loops: supervised fine-tuning (next-token cross-entropy) and knowledge distillation,
// both masked (pruned weights stay exactly zero), with AdamW, clipping and warm-up + cosine.
import { type ComputeBackend, createYielder, type Logger, PruneError, SILENT_LOGGER } from "@mama-prune/core";
import { createBatchSampler } from "./data.ts";
import { trainBackward, trainForward } from "./engine.ts";
import { crossEntropyLoss, distillLoss, type LossResult } from "./losses.ts";
import { masksFromZeros, type ParamMasks, sparsityOf } from "./masks.ts";
import { clipGradNorm, createAdamW, learningRateAt } from "./optim.ts";
import { type LlamaParams, paramsToModel, type Tensor } from "./params.ts";

/** One training step's numbers, given to `onProgress`. */
export interface TrainProgress {
  /** 1-based step just done. */
  readonly step: number;
  readonly steps: number;
  /** Loss of this step's batch (before the update). */
  readonly loss: number;
  /** Learning rate used. */
  readonly lr: number;
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
  /** Tokens predicted so far (batch·seqLen per step). */
  readonly tokens: number;
  /** Wall time since the start, ms. */
  readonly elapsedMs: number;
  /** Loss parts (distillation: kl, ce). */
  readonly parts?: Readonly<Record<string, number>>;
}

/** Options shared by {@link sft} and {@link distill}. */
export interface TrainCommonOptions {
  /** Optimizer steps. */
  readonly steps: number;
  /** Peak learning rate. */
  readonly lr: number;
  /** Tokens per window fed to the model (each window also needs its next token as target). */
  readonly seqLen: number;
  /** Windows per step. */
  readonly batch: number;
  /** Seed of the data order (default 0). */
  readonly seed?: number;
  /** Linear warm-up steps (default min(10, steps/10)). */
  readonly warmupSteps?: number;
  /** Cosine floor (default lr/10). */
  readonly minLr?: number;
  /** AdamW decoupled weight decay on matrices (default 0). */
  readonly weightDecay?: number;
  readonly beta1?: number;
  readonly beta2?: number;
  /** Global-norm clipping threshold (default 1; Infinity disables). */
  readonly clipNorm?: number;
  /**
   * Which weights must stay zero: "from-zeros" (default) keeps every zero of the decoder-block
   * linears at the start (a pruned model stays pruned; a dense one has no masks); "none" trains
   * everything; or explicit masks.
   */
  readonly masks?: ParamMasks | "from-zeros" | "none";
  /** Backend of the float32 matmuls (default the model package's CPU backend). */
  readonly backend?: ComputeBackend;
  /** Cancels between steps (rejects with ABORTED; params keep the updates done so far). */
  readonly signal?: AbortSignal;
  /** Called after every step. */
  readonly onProgress?: (p: TrainProgress) => void;
  /** Receives one info line per `logEvery` steps (default 10). */
  readonly logger?: Logger;
  readonly logEvery?: number;
}

/** What a training run did. */
export interface TrainReport {
  readonly steps: number;
  /** Loss per step. */
  readonly losses: readonly number[];
  /** Tokens predicted in total. */
  readonly tokens: number;
  /** Fraction of zeros over the block linears before and after (equal under masks). */
  readonly sparsityBefore: number;
  readonly sparsityAfter: number;
  readonly elapsedMs: number;
  readonly tokensPerSecond: number;
  /** One line with every setting that determines the run. */
  readonly protocol: string;
}

function checkCommon(where: string, o: TrainCommonOptions, params: LlamaParams): void {
  for (const [label, v] of [
    ["steps", o.steps],
    ["seqLen", o.seqLen],
    ["batch", o.batch],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0)
      throw new RangeError(`${where}: option ${label} must be a positive integer, got ${v}`);
  }
  if (!(o.lr > 0 && Number.isFinite(o.lr)))
    throw new RangeError(`${where}: option lr must be a finite number > 0, got ${o.lr}`);
  if (o.seqLen > params.config.maxPositionEmbeddings) {
    throw new RangeError(
      `${where}: option seqLen ${o.seqLen} exceeds the model's max_position_embeddings ${params.config.maxPositionEmbeddings}`,
    );
  }
  if (!(params.tensors.get("model.embed_tokens.weight") instanceof Float32Array)) {
    throw new TypeError(`${where}: params must be float32 (float64 params are for gradient checks only)`);
  }
}

function checkTokenStream(where: string, tokens: ArrayLike<number>, vocab: number): Int32Array {
  const t = Int32Array.from(tokens);
  for (let i = 0; i < t.length; i++) {
    if (t[i]! < 0 || t[i]! >= vocab || t[i] !== tokens[i]) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${where}: training token ${i} is not a vocabulary id. Expected an integer in [0, ${vocab}), got ${tokens[i]}.`,
      );
    }
  }
  return t;
}

type StepLoss = (
  logits: Tensor,
  inputs: Int32Array,
  targets: Int32Array,
) => Promise<LossResult & { parts?: Record<string, number> }>;

async function runTraining(
  where: string,
  params: LlamaParams,
  tokens: ArrayLike<number>,
  o: TrainCommonOptions,
  stepLoss: StepLoss,
  protocolExtra: string,
): Promise<TrainReport> {
  checkCommon(where, o, params);
  const stream = checkTokenStream(where, tokens, params.config.vocabSize);
  const { seqLen, batch, steps } = o;
  const seed = o.seed ?? 0;
  const sampler = createBatchSampler(stream, seqLen + 1, batch, seed);
  const masks =
    o.masks === "none"
      ? undefined
      : o.masks === undefined || o.masks === "from-zeros"
        ? masksFromZeros(params)
        : o.masks;
  const sparsityBefore = sparsityOf(params);
  const opt = createAdamW(params, {
    ...(o.beta1 !== undefined ? { beta1: o.beta1 } : {}),
    ...(o.beta2 !== undefined ? { beta2: o.beta2 } : {}),
    weightDecay: o.weightDecay ?? 0,
    ...(masks ? { masks } : {}),
  });
  const schedule = {
    lr: o.lr,
    totalSteps: steps,
    warmupSteps: o.warmupSteps ?? Math.min(10, Math.floor(steps / 10)),
    minLr: o.minLr ?? o.lr / 10,
  };
  const clip = o.clipNorm ?? 1;
  const log = o.logger ?? SILENT_LOGGER;
  const logEvery = o.logEvery ?? 10;
  const losses: number[] = [];
  const t0 = performance.now();
  const inputs = new Int32Array(batch * seqLen); // (batch, seqLen)
  const targets = new Int32Array(batch * seqLen); // (batch, seqLen)
  const tick = createYielder(o.signal); // a turn for Ctrl-C and timers, then the abort check
  for (let step = 0; step < steps; step++) {
    await tick(`${where} (step ${step})`);
    const win = sampler.next(); // (batch, seqLen + 1)
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < seqLen; i++) {
        inputs[b * seqLen + i] = win[b * (seqLen + 1) + i]!;
        targets[b * seqLen + i] = win[b * (seqLen + 1) + i + 1]!;
      }
    }
    const { logits, tape } = await trainForward(
      params,
      inputs,
      batch,
      seqLen,
      o.backend ? { backend: o.backend } : {},
    );
    const res = await stepLoss(logits, inputs, targets);
    if (!Number.isFinite(res.loss)) {
      throw new PruneError(
        "NUMERIC_FAILURE",
        `${where}: loss at step ${step + 1} is not finite. Expected a finite loss, got ${res.loss} (lower lr?).`,
      );
    }
    const grads = await trainBackward(tape, res.dLogits);
    const gradNorm = Number.isFinite(clip) ? clipGradNorm(grads, clip) : Number.NaN;
    const lr = learningRateAt(step, schedule);
    opt.step(grads, lr);
    losses.push(res.loss);
    const p: TrainProgress = {
      step: step + 1,
      steps,
      loss: res.loss,
      lr,
      gradNorm,
      tokens: (step + 1) * batch * seqLen,
      elapsedMs: performance.now() - t0,
      ...(res.parts ? { parts: res.parts } : {}),
    };
    o.onProgress?.(p);
    if ((step + 1) % logEvery === 0 || step + 1 === steps) {
      log.info(`${where}: step ${step + 1}/${steps} loss ${res.loss.toFixed(4)} lr ${lr.toExponential(2)}`, {
        ...p,
      });
    }
  }
  const elapsedMs = performance.now() - t0;
  const tokensDone = steps * batch * seqLen;
  return {
    steps,
    losses,
    tokens: tokensDone,
    sparsityBefore,
    sparsityAfter: sparsityOf(params),
    elapsedMs,
    tokensPerSecond: tokensDone / (elapsedMs / 1000),
    protocol:
      `${where}: ${steps} steps × ${batch} windows × ${seqLen} tokens; AdamW(β=${o.beta1 ?? 0.9},${o.beta2 ?? 0.95}, wd ${o.weightDecay ?? 0}), ` +
      `lr ${o.lr} warm-up ${schedule.warmupSteps} cosine→${schedule.minLr}, clip ${clip}; masks ${masks ? `${masks.size} tensors` : "none"}; ` +
      `data: ${sampler.protocol}${protocolExtra}`,
  };
}

/**
 * Supervised fine-tuning (next-token cross-entropy) of `params` in place on a token stream: the
 * product's way to make a pre/post-trained pair for MAMA's movement term. Masked by default, so a
 * pruned model stays pruned.
 *
 * @throws RangeError for invalid options; PruneError CALIBRATION_INVALID (text too short or not
 *   token ids), NUMERIC_FAILURE (non-finite loss or gradient), ABORTED.
 * @example
 * const report = await sft(params, tokenizer.encode(text), { steps: 200, lr: 1e-3, seqLen: 128, batch: 8 });
 * report.losses.at(-1); // lower than report.losses[0]
 */
export function sft(
  params: LlamaParams,
  tokens: ArrayLike<number>,
  options: TrainCommonOptions,
): Promise<TrainReport> {
  const V = params.config.vocabSize;
  return runTraining(
    "sft",
    params,
    tokens,
    options,
    async (logits, _inputs, targets) => crossEntropyLoss(logits, targets, targets.length, V),
    "",
  );
}

/** Options of {@link distill}. */
export interface DistillOptions extends TrainCommonOptions {
  /** Trained in place: usually the pruned model (its zeros stay zero). */
  readonly student: LlamaParams;
  /** Frozen: usually the dense model. Must share the student's vocabulary. */
  readonly teacher: LlamaParams;
  /** Training text as token ids; keep it disjoint from any evaluation text. */
  readonly tokens: ArrayLike<number>;
  /** Distillation temperature T (default 2). */
  readonly temperature?: number;
  /** Weight of next-token cross-entropy (default 0): loss = (1−α)·T²·KL + α·CE. */
  readonly alpha?: number;
}

/**
 * Knowledge distillation after pruning (masked): the student learns the teacher's next-token
 * distribution at temperature T, loss = (1−α)·T²·KL(teacher_T ‖ student_T) + α·CE, on windows of
 * `tokens` in a seeded order. Teacher logits come from `@mama-prune/model`'s forward of the
 * teacher (the inference numerics). The report's per-step `parts` hold kl and ce.
 *
 * @throws PruneError SHAPE_MISMATCH when teacher and student vocabularies differ; as {@link sft}.
 * @example
 * const report = await distill({ student: pruned, teacher: dense, tokens, steps: 200, lr: 1e-3,
 *   seqLen: 128, batch: 8, temperature: 2, alpha: 0.1, seed: 0 });
 */
export async function distill(options: DistillOptions): Promise<TrainReport> {
  const { student, teacher } = options;
  const V = student.config.vocabSize;
  if (teacher.config.vocabSize !== V) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `distill: teacher and student vocabularies differ. Expected the student's ${V}, got ${teacher.config.vocabSize}.`,
    );
  }
  const T = options.temperature ?? 2;
  const alpha = options.alpha ?? 0;
  if (!(T > 0 && Number.isFinite(T)))
    throw new RangeError(`distill: option temperature must be > 0, got ${T}`);
  if (!(alpha >= 0 && alpha <= 1))
    throw new RangeError(`distill: option alpha must be in [0, 1], got ${alpha}`);
  const teacherModel = await paramsToModel(teacher, options.backend ? { backend: options.backend } : {});
  return runTraining(
    "distill",
    student,
    options.tokens,
    options,
    async (logits, inputs, targets) => {
      const tl = await teacherModel.forward(inputs, options.batch, options.seqLen); // (rows, V)
      const r = distillLoss(logits, tl, targets.length, V, { temperature: T, alpha, targets });
      return { loss: r.loss, dLogits: r.dLogits, parts: { kl: r.kl, ce: r.ce } };
    },
    `; temperature ${T}, alpha ${alpha}`,
  );
}
