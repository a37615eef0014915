import {
  kthSmallest,
  type NmPattern,
  nmGroupPruned,
  PruneError,
  type Sparsity,
  validateSparsity,
} from "@mama-prune/core";

/**
 * N:M structure: N **zeros** in every M consecutive input columns of each row (2:4 = 50 %).
 * @deprecated Use `NmPattern` from `@mama-prune/core` (the same type).
 */
export type NmSparsity = NmPattern;

/** Comparison group of a mask selection. */
export type MaskGroup = "matrix" | "row" | "block" | "n:m";

/** Options of {@link selectMask}. */
export interface SelectMaskOptions {
  /** Fraction pruned per group in [0, 1), or `{ n, m }` (1 ≤ n < m) with `group: "n:m"`. */
  readonly sparsity: Sparsity;
  /**
   * - `"matrix"`: one group = the whole matrix (magnitude, RIA in the anchors);
   * - `"row"`: each output row (Wanda);
   * - `"block"`: rows × `blockSize` consecutive columns (SparseGPT's one threshold per 128-column
   *   block; the last block may be narrower);
   * - `"n:m"`: each run of M consecutive columns of each row loses exactly N; a row's last
   *   `cols % M` columns (a tail group of t < M) lose floor(N·t/M) (core's `nmGroupPruned`).
   */
  readonly group: MaskGroup;
  /** Block width in columns for `group: "block"`, default 128. */
  readonly blockSize?: number;
  /** Tensor name used in error messages. */
  readonly name?: string;
}

/** Throw SPARSITY_INVALID unless `s` is a finite number in [0, 1) (core's `validateSparsity`, fractions only). */
export function checkSparsityRatio(where: string, option: string, s: unknown): number {
  return validateSparsity(s, where, { option, accept: "fraction" }) as number;
}

/** Throw unless every score is a number (±Infinity is allowed and orders as expected; NaN is not). */
export function checkScoresOrderable(where: string, scores: Float32Array): void {
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i]!)) {
      throw new PruneError(
        "SCORER_OUTPUT_INVALID",
        `${where}: score ${i} is NaN. Expected comparable scores (finite or ±Infinity), got NaN.`,
      );
    }
  }
}

/**
 * Mark the `k` smallest of `vals` (ties: lower position first) by writing 0 into
 * `mask[flat(p)]`, or `mask[flat + p]` when `flat` is a number (a contiguous group, e.g. a row: then
 * the marks below the threshold are branch-free 0/1 stores). `sorted` is scratch of at least
 * vals.length (its contents are destroyed).
 */
export function pruneSmallest(
  vals: Float32Array,
  k: number,
  sorted: Float32Array,
  mask: Uint8Array,
  flat: ((p: number) => number) | number,
): void {
  if (k <= 0) return;
  const g = vals.length;
  const s = sorted.subarray(0, g); // (g,)
  s.set(vals);
  const t = kthSmallest(s, k - 1); // the k-th smallest score: the threshold
  let below = 0;
  if (typeof flat === "number") {
    // Which side of the threshold an entry falls goes either way: a 0/1 store, not a branch.
    for (let p = 0; p < g; p++) {
      const lt = +(vals[p]! < t);
      mask[flat + p] = mask[flat + p]! & (1 - lt);
      below += lt;
    }
  } else {
    for (let p = 0; p < g; p++) {
      if (vals[p]! < t) {
        mask[flat(p)] = 0;
        below++;
      }
    }
  }
  let ties = k - below; // how many of the entries equal to the threshold are pruned, lowest positions first
  for (let p = 0; p < g && ties > 0; p++) {
    if (vals[p] === t) {
      mask[typeof flat === "number" ? flat + p : flat(p)] = 0;
      ties--;
    }
  }
}

function whereOf(name: string | undefined): string {
  return name === undefined ? "selectMask" : `selectMask(${name.slice(0, 120)})`;
}

/**
 * Choose which weights to keep from their scores (higher = keep). Changes no weight values.
 *
 * Exact counts: every group of g weights loses exactly floor(sparsity·g) (N per M-group for N:M; a
 * tail group of t < M columns at the end of a row loses floor(N·t/M)).
 * Ties are broken deterministically: among equal scores the **lower flat (row-major) index is pruned
 * first**. The anchors instead prune every weight tied at the threshold (magnitude) or follow a stable
 * sort (Wanda, which is the same as ours); ours never exceeds the requested count.
 *
 * @param scores one score per weight, row-major (rows, cols); ±Infinity allowed, NaN rejected.
 * @returns a (rows, cols) mask: 1 = keep, 0 = prune.
 * @throws PruneError `SPARSITY_INVALID` (sparsity outside [0, 1), N:M outside 1 ≤ N < M (core's
 *   `validateSparsity`: `0:4` is refused), N or M not integers, group/sparsity kind mismatch, bad blockSize, unknown group), `SHAPE_MISMATCH`
 *   (scores.length ≠ rows·cols), `SCORER_OUTPUT_INVALID` (a NaN score).
 * @throws RangeError when rows/cols are not non-negative integers; TypeError when scores is not a Float32Array.
 * @example
 * const mask = selectMask(new Float32Array([4, 1, 3, 2]), 1, 4, { sparsity: { n: 2, m: 4 }, group: "n:m" });
 * // Uint8Array [1, 0, 1, 0]
 */
export function selectMask(
  scores: Float32Array,
  rows: number,
  cols: number,
  options: SelectMaskOptions,
): Uint8Array {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `selectMask: options must be an object with sparsity and group, got ${String(options)}`,
    );
  }
  const where = whereOf(options.name);
  if (!(scores instanceof Float32Array)) throw new TypeError(`${where}: scores must be a Float32Array`);
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new RangeError(`${where}: rows and cols must be non-negative integers, got [${rows}, ${cols}]`);
  }
  if (scores.length !== rows * cols) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: scores have the wrong length. Expected rows·cols = ${rows}·${cols} = ${rows * cols}, got ${scores.length}.`,
    );
  }
  const { group, sparsity } = options;
  if (group !== "matrix" && group !== "row" && group !== "block" && group !== "n:m") {
    throw new PruneError(
      "SPARSITY_INVALID",
      `${where}: option group is unknown. Expected "matrix", "row", "block" or "n:m", got ${String(group).slice(0, 40)}.`,
    );
  }
  const mask = new Uint8Array(rows * cols).fill(1); // (rows, cols)

  if (group === "n:m") {
    if (typeof sparsity !== "object" || sparsity === null) {
      throw new PruneError(
        "SPARSITY_INVALID",
        `${where}: option sparsity must be { n, m } with group "n:m". Expected an object, got ${String(sparsity)}.`,
      );
    }
    const nm = validateSparsity(sparsity, where, { option: "sparsity", accept: "n:m" }) as NmPattern;
    const { m } = nm;
    checkScoresOrderable(where, scores);
    for (let i = 0; i < rows; i++) {
      const rowEnd = (i + 1) * cols;
      for (let base = i * cols; base < rowEnd; base += m) {
        // One group: m columns, or the row's last cols % m (a tail group, pruned at floor(n·t/m)).
        const width = Math.min(m, rowEnd - base);
        const k = nmGroupPruned(nm, width);
        // Prune the k smallest of scores[base .. base+width): repeated minimum, lower index wins ties.
        for (let r = 0; r < k; r++) {
          let best = -1;
          let bestVal = 0;
          for (let q = 0; q < width; q++) {
            if (mask[base + q] === 0) continue;
            const v = scores[base + q]!;
            if (best < 0 || v < bestVal) {
              best = q;
              bestVal = v;
            }
          }
          mask[base + best] = 0;
        }
      }
    }
    return mask;
  }

  if (typeof sparsity !== "number") {
    throw new PruneError(
      "SPARSITY_INVALID",
      `${where}: option sparsity {n, m} needs group "n:m". Expected a number for group "${group}", got an object.`,
    );
  }
  const s = checkSparsityRatio(where, "sparsity", sparsity);
  checkScoresOrderable(where, scores);
  if (rows * cols === 0) return mask;

  if (group === "matrix") {
    pruneSmallest(scores, Math.floor(s * rows * cols), new Float32Array(rows * cols), mask, 0);
  } else if (group === "row") {
    const k = Math.floor(s * cols);
    const sorted = new Float32Array(cols); // (cols,)
    for (let i = 0; i < rows; i++) {
      const off = i * cols;
      pruneSmallest(scores.subarray(off, off + cols), k, sorted, mask, off);
    }
  } else {
    const bs = options.blockSize ?? 128;
    if (!Number.isInteger(bs) || bs < 1) {
      throw new PruneError(
        "SPARSITY_INVALID",
        `${where}: option blockSize is invalid. Expected a positive integer, got ${String(bs)}.`,
      );
    }
    const vals = new Float32Array(rows * Math.min(bs, cols)); // (rows, block)
    const sorted = new Float32Array(vals.length); // (rows * block,)
    for (let c0 = 0; c0 < cols; c0 += bs) {
      const w = Math.min(bs, cols - c0);
      const g = vals.subarray(0, rows * w); // (rows, w)
      for (let i = 0; i < rows; i++) g.set(scores.subarray(i * cols + c0, i * cols + c0 + w), i * w);
      pruneSmallest(
        g,
        Math.floor(s * rows * w),
        sorted,
        mask,
        (p) => Math.floor(p / w) * cols + c0 + (p % w),
      );
    }
  }
  return mask;
}

/**
 * True when every run of `m` consecutive columns of every row of `mask` has at least `n` zeros
 * (our N:M definition; with `exact`, exactly `n`), and a row's tail group of t = cols % m < m
 * columns at least (exactly) floor(n·t/m) (core's `nmGroupPruned`).
 *
 * @throws RangeError when the shape does not match or m is not a positive integer.
 * @example
 * isNmMask(new Uint8Array([1, 0, 1, 0]), 1, 4, 2, 4); // true
 */
export function isNmMask(
  mask: Uint8Array,
  rows: number,
  cols: number,
  n: number,
  m: number,
  exact = false,
): boolean {
  if (mask.length !== rows * cols || !Number.isInteger(m) || m < 1) {
    throw new RangeError(
      `isNmMask: mask of length ${mask.length} does not fit [${rows}, ${cols}] in groups of ${m}`,
    );
  }
  for (let i = 0; i < rows; i++) {
    const rowEnd = (i + 1) * cols;
    for (let base = i * cols; base < rowEnd; base += m) {
      const width = Math.min(m, rowEnd - base);
      const want = nmGroupPruned({ n, m }, width);
      let zeros = 0;
      for (let q = 0; q < width; q++) if (mask[base + q] === 0) zeros++;
      if (exact ? zeros !== want : zeros < want) return false;
    }
  }
  return true;
}
