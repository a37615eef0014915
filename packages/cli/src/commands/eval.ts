// ---- `mama-prune eval`: perplexity of a checkpoint on a text, with its protocol line ----

import { basename } from "node:path";
import type { PerplexityResult } from "@mama-prune/eval";
import { loadLlama } from "@mama-prune/model";
import { splitCalibrationText } from "@mama-prune/pipeline";
import { readText, tokenizerFor } from "../inputs.ts";
import { modelChecksum } from "../provenance.ts";
import { type CommandContext, evaluateModel, openModelStep, stepped, withBackend } from "./context.ts";

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
 * `mama-prune eval`: perplexity of a checkpoint on a text, with its full protocol line.
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
    return await withBackend(ctx, async (backend) =>
      evaluateModel(
        ctx,
        await stepped(ctx, "loading model", () => loadLlama(ckpt, { backend })),
        tok.tokenizer,
        text,
        {
          seqlen: job.seqlen,
          ...(job.windows !== undefined ? { windows: job.windows } : {}),
          datasetName: name,
          label: basename(job.model),
          ...(checksum !== undefined ? { modelChecksum: checksum } : {}),
        },
      ),
    );
  } finally {
    await ckpt.close();
  }
}
