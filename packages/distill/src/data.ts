import { createRng, PruneError } from "@mama-prune/core";

/** A source of training batches: `batch` windows of `windowLength` tokens in a seeded order. */
export interface BatchSampler {
  /** Number of distinct windows the stream holds. */
  readonly windows: number;
  /** The next batch: tokens [batch, windowLength] row-major. */
  next(): Int32Array;
  /** One line describing the order exactly, for reports. */
  readonly protocol: string;
}

/**
 * Seeded data order over one token stream: the stream is cut into non-overlapping windows of
 * `windowLength` tokens (remainder dropped); each epoch visits every window once in a Fisher–Yates
 * order drawn from `createRng(seed + epoch)`; batches take consecutive windows of that order (an
 * epoch's tail continues into the next epoch).
 *
 * @throws PruneError CALIBRATION_INVALID when the stream is shorter than one window.
 * @example
 * const sampler = createBatchSampler(tokens, 65, 8, 0); sampler.next().length; // 520
 */
export function createBatchSampler(
  tokens: ArrayLike<number>,
  windowLength: number,
  batch: number,
  seed: number,
): BatchSampler {
  for (const [label, v] of [
    ["windowLength", windowLength],
    ["batch", batch],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0)
      throw new RangeError(`createBatchSampler: ${label} must be a positive integer, got ${v}`);
  }
  const windows = Math.floor(tokens.length / windowLength);
  if (windows === 0) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `createBatchSampler: the training text is too short. Expected at least ${windowLength} tokens, got ${tokens.length}.`,
    );
  }
  let epoch = -1;
  let order: number[] = [];
  let pos = 0;
  const shuffle = (): void => {
    epoch++;
    const rng = createRng(seed + epoch);
    order = Array.from({ length: windows }, (_, i) => i);
    for (let i = windows - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    pos = 0;
  };
  shuffle();
  return {
    windows,
    protocol: `${windows} non-overlapping windows of ${windowLength} tokens, shuffled per epoch with createRng(${seed} + epoch), ${batch} per batch`,
    next(): Int32Array {
      const out = new Int32Array(batch * windowLength); // (batch, windowLength)
      for (let b = 0; b < batch; b++) {
        if (pos >= windows) shuffle();
        const w = order[pos++]!;
        for (let i = 0; i < windowLength; i++) out[b * windowLength + i] = tokens[w * windowLength + i]!;
      }
      return out;
    },
  };
}
