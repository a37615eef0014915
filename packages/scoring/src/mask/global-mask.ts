import { PruneError } from "@mama-prune/core";
import { checkScoresOrderable, checkSparsityRatio, pruneSmallest } from "./select-mask.ts";

/** One layer's scores for {@link selectGlobalMask}. */
export interface GlobalMaskLayer {
  /** Tensor name (used in errors and echoed in the result). */
  readonly name: string;
  /** One score per weight, row-major (rows, cols). */
  readonly scores: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

/** One layer's mask from {@link selectGlobalMask}. */
export interface GlobalMaskResult {
  readonly name: string;
  /** (rows, cols): 1 = keep, 0 = prune. */
  readonly mask: Uint8Array;
  /** Number of weights pruned in this layer. */
  readonly pruned: number;
}

/**
 * One threshold across all layers (torch's `global_unstructured`): exactly floor(sparsity·Σ numel)
 * weights are pruned in total, the lowest scores first; ties are broken by layer order, then by
 * flat index within the layer (lower first). Per-layer sparsity varies. Holds one float32 copy of
 * all scores plus one sorted copy (8 bytes per weight).
 *
 * @throws PruneError `SPARSITY_INVALID` (sparsity outside [0, 1)), `SHAPE_MISMATCH` (a layer's
 *   scores.length ≠ rows·cols), `SCORER_OUTPUT_INVALID` (a NaN score).
 * @example
 * const [a, b] = selectGlobalMask([
 *   { name: "a", scores: new Float32Array([1, 5]), rows: 1, cols: 2 },
 *   { name: "b", scores: new Float32Array([2, 3]), rows: 1, cols: 2 },
 * ], 0.5);
 * // a.mask = [0, 1], b.mask = [0, 1]
 */
export function selectGlobalMask(layers: readonly GlobalMaskLayer[], sparsity: number): GlobalMaskResult[] {
  const s = checkSparsityRatio("selectGlobalMask", "sparsity", sparsity);
  let total = 0;
  for (const l of layers) {
    const where = `selectGlobalMask(${String(l.name).slice(0, 120)})`;
    if (!Number.isInteger(l.rows) || l.rows < 0 || !Number.isInteger(l.cols) || l.cols < 0) {
      throw new RangeError(
        `${where}: rows and cols must be non-negative integers, got [${l.rows}, ${l.cols}]`,
      );
    }
    if (!(l.scores instanceof Float32Array) || l.scores.length !== l.rows * l.cols) {
      throw new PruneError(
        "SHAPE_MISMATCH",
        `${where}: scores have the wrong length. Expected rows·cols = ${l.rows * l.cols}, got ${l.scores?.length}.`,
      );
    }
    checkScoresOrderable(where, l.scores);
    total += l.scores.length;
  }
  const all = new Float32Array(total); // (Σ numel,)
  const starts: number[] = [];
  let off = 0;
  for (const l of layers) {
    starts.push(off);
    all.set(l.scores, off);
    off += l.scores.length;
  }
  const flatMask = new Uint8Array(total).fill(1); // (Σ numel,)
  pruneSmallest(all, Math.floor(s * total), new Float32Array(total), flatMask, 0);
  return layers.map((l, i) => {
    const start = starts[i]!;
    const mask = flatMask.slice(start, start + l.scores.length); // (rows, cols)
    let pruned = 0;
    for (let k = 0; k < mask.length; k++) if (mask[k] === 0) pruned++;
    return { name: l.name, mask, pruned };
  });
}
