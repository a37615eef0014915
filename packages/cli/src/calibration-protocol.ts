// ---- The calibration protocol when flags or recipes leave it out: the anchors' ----

import { PruneError } from "@mama-prune/core";
import { parseLlamaConfig } from "@mama-prune/model";

/** Windows drawn by default, as in the anchors (SparseGPT, Wanda: 128 calibration sequences). */
export const DEFAULT_CALIBRATION_NSAMPLES = 128;
/** Longest default window: the anchors' 2048 tokens, capped by the model's context. */
export const DEFAULT_CALIBRATION_MAX_SEQLEN = 2048;

/** A calibration size with where it came from. */
export interface ResolvedCalibrationSize {
  readonly nsamples: number;
  readonly seqlen: number;
  /** True when nsamples or seqlen came from the default (not a flag or recipe key). */
  readonly defaulted: boolean;
  /** E.g. "128 windows × 512 tokens (default: 128 × min(2048, context 512))". */
  readonly description: string;
}

/**
 * nsamples and seqlen of a run: the given values, else the anchors' protocol — 128 windows of
 * `min(2048, max_position_embeddings)` tokens (for llama2.c checkpoints the context is the header's
 * `seq_len`; stories260K: 512).
 *
 * @throws PruneError CONFIG_INVALID when a default is needed and the config has no context length.
 * @example
 * resolveCalibrationSize({}, { max_position_embeddings: 4096, … }).seqlen; // 2048
 */
export function resolveCalibrationSize(
  given: { readonly nsamples?: number | undefined; readonly seqlen?: number | undefined },
  modelConfig: Readonly<Record<string, unknown>>,
  modelName: string,
): ResolvedCalibrationSize {
  const nsamples = given.nsamples ?? DEFAULT_CALIBRATION_NSAMPLES;
  let seqlen = given.seqlen;
  let context: number | undefined;
  if (seqlen === undefined) {
    context = parseLlamaConfig(modelConfig, `${modelName} config`).maxPositionEmbeddings;
    seqlen = Math.min(DEFAULT_CALIBRATION_MAX_SEQLEN, context);
  }
  const defaulted = given.nsamples === undefined || given.seqlen === undefined;
  const parts: string[] = [];
  if (given.nsamples === undefined) parts.push(`${DEFAULT_CALIBRATION_NSAMPLES} windows`);
  if (given.seqlen === undefined)
    parts.push(`seqlen min(${DEFAULT_CALIBRATION_MAX_SEQLEN}, context ${context})`);
  return {
    nsamples,
    seqlen,
    defaulted,
    description: `${nsamples} windows × ${seqlen} tokens${defaulted ? ` (default: the anchors' protocol, ${parts.join(", ")})` : ""}`,
  };
}

/**
 * Refuse a calibration text too short for `nsamples` disjoint windows of `seqlen` tokens instead of
 * drawing (heavily) overlapping windows from it.
 *
 * @throws PruneError CALIBRATION_INVALID naming the text, the tokens available and needed, and the
 *   flags that lower the need.
 * @example
 * checkCalibrationLength(41067, 128, 512, "val.txt (calibration split)"); // throws: 65536 needed
 */
export function checkCalibrationLength(
  tokens: number,
  nsamples: number,
  seqlen: number,
  textName: string,
): void {
  const needed = nsamples * seqlen;
  if (tokens < needed) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `${textName}: calibration text too short for ${nsamples} disjoint windows of ${seqlen} tokens. Expected at least ${needed} tokens, got ${tokens}; use a longer text or lower --nsamples / --seqlen (recipe: calibration.nsamples / calibration.seqlen), e.g. --nsamples ${Math.max(1, Math.floor(tokens / seqlen))}.`,
    );
  }
}
