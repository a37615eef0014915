// ---- `mama-prune distill`: knowledge distillation of a pruned student from a dense teacher, masks kept ----

import { basename } from "node:path";
import { PruneError } from "@mama-prune/core";
import { distill, type TrainReport } from "@mama-prune/distill";
import type { PerplexityResult } from "@mama-prune/eval";
import { parseLlamaConfig } from "@mama-prune/model";
import { splitCalibrationText } from "@mama-prune/pipeline";
import { readText } from "../inputs.ts";
import { type CommandContext, withBackend } from "./context.ts";
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
  readParams,
  readTrainModel,
  startMasks,
  type TrainEvalSpec,
  type TrainedFolderSpec,
  trainProgress,
  withCheckpoint,
  writeTrainedFolder,
} from "./train-output.ts";

/**
 * The settings `distill` uses when neither a flag nor the recipe gives one: the library's own
 * (temperature 2, alpha 0, warm-up min(10, steps/10), cosine to lr/10, clip 1, no weight decay), and
 * for what the library requires, the paper's Table 2 + distill run (100 steps × 4 windows × 128
 * tokens, lr 1e-3).
 */
export const DISTILL_DEFAULTS: Readonly<{
  steps: number;
  lr: number;
  seqlen: number;
  batch: number;
  temperature: number;
  alpha: number;
  seed: number;
  weightDecay: number;
  clipNorm: number;
}> = {
  steps: 100,
  lr: 1e-3,
  seqlen: 128,
  batch: 4,
  temperature: 2,
  alpha: 0,
  seed: 0,
  weightDecay: 0,
  clipNorm: 1,
};

/** Everything `distill` needs (paths resolved). */
export interface DistillJob {
  /** The pruned student checkpoint (trained; its zeros stay zero). */
  readonly student: string;
  /** The dense teacher checkpoint. */
  readonly teacher: string;
  readonly tokenizer?: string;
  /** Training text; with `split`, only its calibration split (the last `split` of paragraphs). */
  readonly text: string;
  readonly split?: number;
  readonly steps: number;
  readonly lr: number;
  readonly seqlen: number;
  readonly batch: number;
  readonly temperature: number;
  readonly alpha: number;
  readonly seed: number;
  readonly warmupSteps?: number;
  readonly minLr?: number;
  readonly weightDecay: number;
  readonly clipNorm: number;
  /** Perplexity before and after (none when absent). */
  readonly eval?: TrainEvalSpec;
  readonly output: TrainedFolderSpec;
  readonly recipe?: { readonly path: string; readonly content: unknown };
}

/** What `distill` did. */
export interface DistillCommandResult {
  readonly out: string;
  readonly files: readonly string[];
  readonly report: TrainReport;
  readonly sparsity: MaskCheck;
  readonly eval?: { readonly before: PerplexityResult; readonly after: PerplexityResult };
  readonly backend: string;
}

/**
 * `mama-prune distill`: distill a pruned student from its dense teacher on a text
 * (`@mama-prune/distill`'s `distill`, masked: every pruned weight stays exactly zero, checked bit
 * for bit), optionally measuring perplexity before and after, and write the student as a Hugging
 * Face folder like `prune` does (atomic, side files, tokenizer.json, training.json provenance).
 *
 * @throws PruneError every input error (TENSOR_IO_*, TOKENIZER_*, CALIBRATION_INVALID for a training
 *   text shorter than a window, SHAPE_MISMATCH for teacher/student vocabularies), TENSOR_IO_EXISTS
 *   for a non-empty output folder (checked before any work), NUMERIC_FAILURE, MASK_INVALID, ABORTED.
 * @example
 * await runDistill({ student: "wanda-50", teacher: "stories260K.bin", text: "val.txt", ... }, { io });
 */
export async function runDistill(job: DistillJob, ctx: CommandContext): Promise<DistillCommandResult> {
  await preflightTrained(job.output, [job.student, job.teacher], job.student);
  const signal = ctx.io.signal;
  const { tok, params: student } = await readTrainModel(
    ctx,
    job.student,
    job.tokenizer,
    "reading the student",
    (sckpt) => {
      const context = parseLlamaConfig(sckpt.config, `${job.student} config`).maxPositionEmbeddings;
      if (job.seqlen > context) {
        throw new PruneError(
          "CALIBRATION_INVALID",
          `distill: --seqlen ${job.seqlen} exceeds the student's context. Expected at most ${context} (max_position_embeddings of ${basename(job.student)}), got ${job.seqlen}.`,
        );
      }
    },
  );
  const teacher = await withCheckpoint(ctx, job.teacher, (tckpt) =>
    readParams(ctx, tckpt, "reading the teacher"),
  );
  let text = await readText(job.text, "training", "CALIBRATION_INVALID");
  if (job.split !== undefined) {
    text = splitCalibrationText(text, { calibrationFraction: job.split }).calibration;
  }
  const tokens = tok.tokenizer.encode(text, { bos: true });
  const evalT = await evalText(job.eval);
  const start = startMasks(student);
  const { report, before, after, backend } = await withBackend(ctx, async (backend) => {
    const ppl0 = await evaluateParams(ctx, student, backend, tok, evalT, "before distillation");
    const progress = trainProgress(ctx, "distill");
    const rep = await distill({
      student,
      teacher,
      tokens,
      steps: job.steps,
      lr: job.lr,
      seqLen: job.seqlen,
      batch: job.batch,
      temperature: job.temperature,
      alpha: job.alpha,
      seed: job.seed,
      weightDecay: job.weightDecay,
      clipNorm: job.clipNorm,
      ...(job.warmupSteps !== undefined ? { warmupSteps: job.warmupSteps } : {}),
      ...(job.minLr !== undefined ? { minLr: job.minLr } : {}),
      masks: start.masks,
      backend,
      ...(signal !== undefined ? { signal } : {}),
      onProgress: (p) =>
        progress.update(
          p.step,
          p.steps,
          `loss ${p.loss.toFixed(4)}${p.parts !== undefined ? ` (kl ${p.parts["kl"]?.toFixed(4)}, ce ${p.parts["ce"]?.toFixed(4)})` : ""}`,
        ),
    });
    progress.finish();
    const ppl1 = await evaluateParams(ctx, student, backend, tok, evalT, "after distillation");
    return { report: rep, before: ppl0, after: ppl1, backend: backend.name };
  });
  const sparsity = checkMasks("distill", student, start.masks, start.zeros);
  const files = await writeTrainedFolder(ctx, {
    command: "distill",
    folder: job.output,
    params: student,
    modelPath: job.student,
    tokenizer: tok,
    configExtra: {
      mama_prune_distill: {
        teacher: basename(job.teacher),
        text: basename(job.text),
        protocol: report.protocol,
        sparsity: sparsity.sparsityAfter,
      },
    },
    inputs: [
      { role: "student", path: job.student },
      { role: "teacher", path: job.teacher },
      { role: "text", path: job.text },
      { role: "tokenizer", path: tok.path },
      ...optionalInputs(
        job.eval !== undefined && job.eval.text !== job.text ? job.eval.text : undefined,
        job.recipe,
      ),
    ],
    head: {
      command: "distill",
      settings: {
        steps: job.steps,
        lr: job.lr,
        seqlen: job.seqlen,
        batch: job.batch,
        temperature: job.temperature,
        alpha: job.alpha,
        seed: job.seed,
        warmupSteps: job.warmupSteps ?? null,
        minLr: job.minLr ?? null,
        weightDecay: job.weightDecay,
        clipNorm: job.clipNorm,
        split: job.split ?? null,
      },
      protocol: report.protocol,
      losses: report.losses,
      sparsity,
      ...(await provenanceTail({ before, after, backend, recipe: job.recipe, modelPath: job.student })),
    },
  });
  return { out: job.output.out, files, report, sparsity, ...evalResult(before, after), backend };
}

/**
 * Human-readable summary of a distillation.
 *
 * @example
 * io.stdout(formatDistill(await runDistill(job, { io })));
 */
export function formatDistill(r: DistillCommandResult): string {
  const e = ends(r.report.losses);
  return formatTrained(
    r,
    `distilled ${r.report.steps} steps: loss ${e.first.toFixed(4)} → ${e.last.toFixed(4)} (mean of the first / last tenth of the steps)`,
  );
}
