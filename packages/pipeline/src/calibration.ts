// ---- Calibration data: a deterministic calibration/evaluation split and seeded windows ----

import { createRng, PruneError } from "@mama-prune/core";

/** Options of {@link splitCalibrationText}. */
export interface SplitCalibrationTextOptions {
  /** Fraction of paragraphs (at the END of the text) that form the calibration split. Default 0.15. */
  readonly calibrationFraction?: number;
  /** Paragraph separator. Default `"\n\n"`. */
  readonly separator?: string;
}

/** A text cut into two disjoint parts by {@link splitCalibrationText}. */
export interface CalibrationSplit {
  /** The first `evaluationParagraphs` paragraphs joined with the separator. */
  readonly evaluation: string;
  /** The remaining (last) paragraphs joined with the separator. */
  readonly calibration: string;
  /** Paragraph counts of each part (after dropping whitespace-only paragraphs). */
  readonly evaluationParagraphs: number;
  readonly calibrationParagraphs: number;
  /** One line describing the split exactly, for reports. */
  readonly protocol: string;
}

/**
 * Split a text into an evaluation part and a DISJOINT calibration part, deterministically: the text
 * is cut at every `separator` ("\n\n" by default) into paragraphs, whitespace-only paragraphs are
 * dropped, and with P paragraphs the last `c = max(1, round(fraction·P))` form the calibration split
 * and the first `P − c` the evaluation split (each re-joined with the separator). No paragraph is in
 * both. For the bundled `tinystories_val.txt` (3,225 paragraphs) that is 2,741 evaluation and 484
 * calibration paragraphs.
 *
 * @throws PruneError CALIBRATION_INVALID when the text has fewer than 2 non-empty paragraphs.
 * @throws RangeError when `calibrationFraction` is not in (0, 1) or the separator is empty.
 * @example
 * const s = splitCalibrationText("a\n\nb\n\nc\n\nd", { calibrationFraction: 0.25 });
 * s.evaluation; // "a\n\nb\n\nc"
 * s.calibration; // "d"
 */
export function splitCalibrationText(
  text: string,
  options: SplitCalibrationTextOptions = {},
): CalibrationSplit {
  const fraction = options.calibrationFraction ?? 0.15;
  const sep = options.separator ?? "\n\n";
  if (typeof fraction !== "number" || !(fraction > 0 && fraction < 1)) {
    throw new RangeError(
      `splitCalibrationText: option calibrationFraction must be in (0, 1), got ${String(fraction)}`,
    );
  }
  if (typeof sep !== "string" || sep.length === 0) {
    throw new RangeError("splitCalibrationText: option separator must be a non-empty string");
  }
  if (typeof text !== "string") throw new TypeError("splitCalibrationText: text must be a string");
  const paragraphs = text.split(sep).filter((p) => p.trim().length > 0);
  const P = paragraphs.length;
  if (P < 2) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `splitCalibrationText: text has too few paragraphs to split. Expected at least 2 non-empty paragraphs separated by ${JSON.stringify(sep)}, got ${P}.`,
    );
  }
  const c = Math.min(P - 1, Math.max(1, Math.round(fraction * P)));
  const e = P - c;
  return {
    evaluation: paragraphs.slice(0, e).join(sep),
    calibration: paragraphs.slice(e).join(sep),
    evaluationParagraphs: e,
    calibrationParagraphs: c,
    protocol: `paragraphs split on ${JSON.stringify(sep)} (whitespace-only dropped): first ${e} of ${P} = evaluation, last ${c} = calibration (fraction ${fraction})`,
  };
}

/** Options of {@link calibrationWindows}. */
export interface CalibrationWindowsOptions {
  /** Number of windows. Default 128 (the anchors' count). */
  readonly nsamples?: number;
  /** Tokens per window. Default 256 (the anchors use 2048; the bundled model's context is 512). */
  readonly seqlen?: number;
  /** RNG seed (createRng, Mulberry32). Default 0. */
  readonly seed?: number;
  /** Token id put at position 0 of every window (e.g. BOS); the window then holds seqlen − 1 stream tokens. */
  readonly bosId?: number;
}

/** Windows drawn by {@link calibrationWindows}. */
export interface CalibrationWindows {
  /** Window tokens, row-major (nsamples, seqlen). */
  readonly tokens: Int32Array;
  readonly nsamples: number;
  readonly seqlen: number;
  /** Start offset of each window in the token stream, in draw order. */
  readonly starts: readonly number[];
  /** One line describing the draw, for reports. */
  readonly protocol: string;
}

/**
 * Draw `nsamples` calibration windows of `seqlen` tokens from one token stream with a seeded RNG,
 * like the anchors' `get_c4` (which draws a random document, then a random start inside it): here the
 * stream is the tokenized calibration split, and for window k the start is
 * `rng.int(tokens.length − L + 1)` with `rng = createRng(seed)` and L the stream tokens per window
 * (seqlen, or seqlen − 1 with `bosId`). Windows may overlap (as in the anchors); draws are
 * independent and in order, so the first k windows of a larger draw equal a draw of k.
 *
 * @throws PruneError CALIBRATION_INVALID when the stream is shorter than one window (e.g. an empty
 *   calibration text).
 * @throws RangeError for non-positive or non-integer nsamples/seqlen, or a non-finite seed.
 * @example
 * const w = calibrationWindows(new Int32Array([5, 6, 7, 8, 9]), { nsamples: 2, seqlen: 3, seed: 0 });
 * w.tokens.length; // 6
 */
export function calibrationWindows(
  tokens: ArrayLike<number>,
  options: CalibrationWindowsOptions = {},
): CalibrationWindows {
  const nsamples = options.nsamples ?? 128;
  const seqlen = options.seqlen ?? 256;
  const seed = options.seed ?? 0;
  for (const [label, v] of [
    ["nsamples", nsamples],
    ["seqlen", seqlen],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0) {
      throw new RangeError(`calibrationWindows: option ${label} must be a positive integer, got ${v}`);
    }
  }
  if (!Number.isFinite(seed)) {
    throw new RangeError(`calibrationWindows: option seed must be a finite number, got ${seed}`);
  }
  const bos = options.bosId;
  const L = bos === undefined ? seqlen : seqlen - 1;
  if (L < 1) {
    throw new RangeError("calibrationWindows: option seqlen must be at least 2 when bosId is given");
  }
  if (tokens.length < L) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `calibrationWindows: calibration token stream is too short. Expected at least ${L} tokens (one window of seqlen ${seqlen}), got ${tokens.length}.`,
    );
  }
  const rng = createRng(seed);
  const out = new Int32Array(nsamples * seqlen); // (nsamples, seqlen)
  const starts: number[] = [];
  for (let k = 0; k < nsamples; k++) {
    const s = rng.int(tokens.length - L + 1);
    starts.push(s);
    let o = k * seqlen;
    if (bos !== undefined) out[o++] = bos;
    for (let t = 0; t < L; t++) out[o + t] = tokens[s + t]!;
  }
  return {
    tokens: out,
    nsamples,
    seqlen,
    starts,
    protocol: calibrationProtocol({
      nsamples,
      seqlen,
      streamTokens: tokens.length,
      seeds: [seed],
      bosId: bos,
    }),
  };
}

/** What {@link calibrationProtocol} describes. */
export interface CalibrationProtocolInput {
  readonly nsamples: number;
  readonly seqlen: number;
  /** Tokens of the stream the windows are drawn from. */
  readonly streamTokens: number;
  /** One seed, or several independent draws from the same stream (one per seed). */
  readonly seeds: readonly number[];
  readonly bosId?: number | undefined;
}

/**
 * The one-line description of a {@link calibrationWindows} draw (its `protocol`), or of several draws
 * from the same stream with different seeds ("…, createRng(seed) for seeds 0, 1, 2").
 *
 * @throws RangeError when `seeds` is empty.
 * @example
 * calibrationProtocol({ nsamples: 16, seqlen: 256, streamTokens: 41067, seeds: [0, 1] });
 * // "16 windows × 256 tokens drawn from a 41067-token stream, start_k = rng.int(40812), createRng(seed) for seeds 0, 1"
 */
export function calibrationProtocol(p: CalibrationProtocolInput): string {
  if (p.seeds.length === 0) throw new RangeError("calibrationProtocol: seeds must not be empty");
  const L = p.bosId === undefined ? p.seqlen : p.seqlen - 1;
  const rng =
    p.seeds.length === 1 ? `createRng(${p.seeds[0]})` : `createRng(seed) for seeds ${p.seeds.join(", ")}`;
  return `${p.nsamples} windows × ${p.seqlen} tokens${p.bosId === undefined ? "" : ` (BOS ${p.bosId} + ${L} stream tokens)`} drawn from a ${p.streamTokens}-token stream, start_k = rng.int(${p.streamTokens - L + 1}), ${rng}`;
}
