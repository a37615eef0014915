// ---- OWL's dense pre-pass: each block's outlier ratio from its Wanda scores ----

import { createYielder, type Logger, matrix } from "@mama-prune/core";
import { LINEAR_NAMES } from "@mama-prune/model";
import { owlOutlierRatio, runScorer, wanda } from "@mama-prune/scoring";
import { type BlockAccess, collectBlockStats, INPUT_OF, linearTensorName } from "./block-runner.ts";
import type { CalibrationInput, PruneProgress } from "./prune-options.ts";
import { columnNorms } from "./stats.ts";

/** What {@link owlOutlierRatios} runs on. */
export interface OwlPrepassInput {
  readonly access: BlockAccess;
  /** Embedded calibration windows (nsamples·seqlen, hidden); not modified. */
  readonly hidden: Float32Array;
  readonly calibration: CalibrationInput;
  readonly batchSize: number;
  /** OWL's outlier threshold multiple (default 5). */
  readonly M?: number;
  readonly log: Logger;
  readonly signal: AbortSignal | undefined;
  readonly onProgress?: (event: PruneProgress) => void;
}

/**
 * OWL's dense pre-pass: run every block of the still-dense model over the windows, score each of its
 * linears with the Wanda scorer (`runScorer(wanda(), …)`, |W|·‖X_j‖₂ over the block's dense inputs)
 * and return each block's outlier ratio (`owlOutlierRatio`). One "owl" progress event per block.
 *
 * @throws PruneError from the block runs, the scorer and `owlOutlierRatio`; ABORTED.
 */
export async function owlOutlierRatios(o: OwlPrepassInput): Promise<number[]> {
  const L = o.access.config.numLayers;
  const scorer = wanda();
  const ratios: number[] = [];
  let h = o.hidden;
  const tick = createYielder(o.signal);
  for (let l = 0; l < L; l++) {
    await tick(`prune: OWL pre-pass, block ${l}`);
    const { model, local } = await o.access.open(l);
    const { stats, output } = await collectBlockStats({
      model,
      local,
      hidden: h,
      calibration: o.calibration,
      batchSize: o.batchSize,
      rowWeights: undefined,
      needs: { sqNorm: true },
      backend: o.access.backend,
      signal: o.signal,
      keepOutput: true,
    });
    h = output!;
    const scores: Float32Array[] = [];
    for (const name of LINEAR_NAMES) {
      await tick(`prune: OWL pre-pass, block ${l} ${name}`);
      const [rows, cols] = model.linearShape(local, name);
      const st = stats[INPUT_OF[name]];
      scores.push(
        await runScorer(scorer, {
          name: linearTensorName(model, local, l, name),
          weight: matrix(rows, cols, model.getLinearWeight(local, name)),
          activationNorms: columnNorms(st.sqNorm!),
          tokens: st.tokens,
          log: o.log,
          ...(o.signal !== undefined ? { signal: o.signal } : {}),
        }),
      );
    }
    ratios.push(owlOutlierRatio(scores, o.M ?? 5));
    o.onProgress?.({ stage: "owl", done: l + 1, total: L });
  }
  return ratios;
}
