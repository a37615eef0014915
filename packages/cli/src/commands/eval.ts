// ---- `mama-prune eval`: perplexity of a checkpoint on a text, with its protocol line ----

import { basename } from "node:path";
import type { PerplexityResult } from "@mama-prune/eval";
import { splitCalibrationText, streamingPerplexity } from "@mama-prune/pipeline";
import { readText, tokenizerFor } from "../inputs.ts";
import { createProgress } from "../progress.ts";
import { modelChecksum } from "../provenance.ts";
import { type CommandContext, openModelStep, step, withBackend } from "./context.ts";

/** Everything `eval` needs. */
export interface EvalJob {
  readonly model: string;
  readonly tokenizer?: string;
  readonly text: string;
  readonly seqlen: number;
  readonly windows?: number;
  /** Evaluate only the evaluation split (the first paragraphs; prune/sweep calibrate on the rest). */
  readonly split?: number;
}

/**
 * `mama-prune eval`: perplexity of a checkpoint on a text, with its full protocol line. Streamed: one
 * decoder block resident at a time (plus the hidden states of the evaluated windows and one vocabulary
 * chunk of the head), whatever the depth; the same number as a resident evaluation to the printed digits.
 *
 * @throws PruneError TENSOR_IO_*, TOKENIZER_MISMATCH, EVAL_INVALID (empty text, bad seqlen), ABORTED.
 * @example
 * const r = await runEval({ model: "m.bin", text: "val.txt", seqlen: 256 }, { io });
 */
export async function runEval(job: EvalJob, ctx: CommandContext): Promise<PerplexityResult> {
  const ckpt = await openModelStep(ctx, job.model);
  try {
    const tok = await tokenizerFor(ckpt, job.model, job.tokenizer);
    let text = await readText(job.text, "evaluation", "EVAL_INVALID");
    let name = basename(job.text);
    if (job.split !== undefined) {
      text = splitCalibrationText(text, { calibrationFraction: job.split }).evaluation;
      name = `${name} (evaluation split)`;
    }
    const checksum = await modelChecksum(job.model);
    const label = basename(job.model);
    const embedding = step(ctx, `${label}: tokenizing and embedding the evaluation windows`);
    const blocks = createProgress(
      ctx.io,
      `${label}: eval blocks (all windows, one block resident)`,
      ctx.quiet === true,
    );
    const head = createProgress(ctx.io, `${label}: lm head (vocabulary chunks)`, ctx.quiet === true);
    try {
      const r = await withBackend(ctx, (backend) =>
        streamingPerplexity(ckpt, tok.tokenizer, text, {
          seqlen: job.seqlen,
          ...(job.windows !== undefined ? { maxWindows: job.windows } : {}),
          datasetName: name,
          ...(checksum !== undefined ? { modelChecksum: checksum } : {}),
          backend,
          ...(ctx.io.signal !== undefined ? { signal: ctx.io.signal } : {}),
          onProgress: (p) => {
            if (p.stage === "embed") return;
            embedding.finish();
            if (p.stage === "block") {
              blocks.update(p.done, p.total);
              if (p.done === p.total) blocks.finish();
            } else head.update(p.done, p.total);
          },
        }),
      );
      head.finish(`ppl ${r.ppl.toFixed(4)}`);
      return r;
    } finally {
      embedding.cancel();
    }
  } finally {
    await ckpt.close();
  }
}
