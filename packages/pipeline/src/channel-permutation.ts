// ---- Channel permutation for N:M (Pool & Yu 2021; RIA's channel allocation, Zhang et al. 2024) ----
//
// Which input columns share a run of M is arbitrary wherever the model can be reparametrised exactly:
// permuting a consumer linear's input channels together with its producers' output rows leaves the
// model the same function. Choosing that permutation so that the weights N:M must drop are the least
// important ones lets the N:M mask keep more of what matters.

import type { NmPattern } from "@mama-prune/core";
import type { LinearInputStats } from "./stats.ts";

/**
 * A set of input channels that may be permuted among themselves: channel d ∈ [0, size) sits at column
 * `offsets[c] + d` of every copy c (o_proj: one copy per query head sharing a kv head; down_proj: one
 * copy). One permutation applies to every copy.
 */
export interface ChannelDomain {
  readonly size: number;
  readonly offsets: readonly number[];
}

/** Options of {@link chooseNmChannelPermutation}. */
/** Default work budget of the channel-permutation swap search, in score reads (≈ 2 s of JS). */
export const DEFAULT_PERMUTATION_BUDGET = 2e8;

export interface ChannelPermutationOptions {
  /** Passes of pairwise swaps between groups (default 8; stops earlier when a pass finds none). */
  readonly maxPasses?: number;
  /**
   * Work budget of the swap search in score reads (default 2e8); the search stops when it is spent
   * (wide layers), keeping what it found.
   */
  readonly budget?: number;
  /**
   * `permuteBlockChannels` only: permute the given statistics' Gram and cross-Gram in place (the
   * caller drops the unpermuted ones anyway) instead of copying them. Default false.
   */
  readonly inPlaceStats?: boolean;
}

/** What {@link chooseNmChannelPermutation} returns. */
export interface ChannelPermutation {
  /** New position p holds old channel `perm[p]` (length `domain.size`). */
  readonly perm: Int32Array;
  /** Σ of the importance N:M drops (the N smallest of each run, per row and copy) before / after. */
  readonly prunedBefore: number;
  readonly prunedAfter: number;
  /** Swaps applied; passes run; whether the budget stopped the search. */
  readonly swaps: number;
  readonly passes: number;
  readonly budgetSpent: boolean;
}

/** Sum of the `n` smallest of `v[0..m)` (m small: selection by repeated minimum). */
function sumSmallest(v: Float64Array, m: number, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) {
    let j = k;
    for (let i = k + 1; i < m; i++) if (v[i]! < v[j]!) j = i;
    const t = v[k]!;
    v[k] = v[j]!;
    v[j] = t;
    s += v[k]!;
  }
  return s;
}

/**
 * Choose a permutation of `domain`'s channels that minimises the importance an N:M mask drops: per
 * row r and copy c, the N smallest of `score[r, offsets[c] + d]` over the channels d of each run of M
 * positions. Start: the identity and RIA's allocation (channels sorted by total importance, dealt
 * round-robin into the runs); each start is improved by passes of the best swap between every pair
 * of runs while it lowers the dropped importance; the better of the two is returned (ties: identity).
 *
 * @throws RangeError when size or an offset is not a multiple of M, or a column lies outside `cols`.
 * @example
 * const { perm } = chooseNmChannelPermutation(score, rows, cols, { size: cols, offsets: [0] }, { n: 2, m: 4 });
 */
export function chooseNmChannelPermutation(
  score: Float64Array, // (rows, cols), ≥ 0
  rows: number,
  cols: number,
  domain: ChannelDomain,
  nm: NmPattern,
  options: ChannelPermutationOptions = {},
): ChannelPermutation {
  const { size, offsets } = domain;
  const M = nm.m;
  const N = nm.n;
  if (size % M !== 0 || offsets.some((o) => o % M !== 0 || o < 0 || o + size > cols)) {
    throw new RangeError(
      `chooseNmChannelPermutation: domain must be whole runs of ${M} inside ${cols} columns, got size ${size}, offsets [${offsets.join(", ")}]`,
    );
  }
  const maxPasses = options.maxPasses ?? 8;
  let budget = options.budget ?? DEFAULT_PERMUTATION_BUDGET;
  const V = rows * offsets.length; // values per channel
  const S = new Float64Array(size * V); // (channel, row·copy)
  const total = new Float64Array(size);
  for (let d = 0; d < size; d++) {
    let t = 0;
    for (let c = 0; c < offsets.length; c++) {
      const col = offsets[c]! + d;
      for (let r = 0; r < rows; r++) {
        const x = score[r * cols + col]!;
        S[d * V + c * rows + r] = x;
        t += x;
      }
    }
    total[d] = t;
  }
  const G = size / M;
  const tmp = new Float64Array(M);
  const prunedOf = (ch: Int32Array, g: number): number => {
    let s = 0;
    for (let v = 0; v < V; v++) {
      for (let i = 0; i < M; i++) tmp[i] = S[ch[g * M + i]! * V + v]!;
      s += sumSmallest(tmp, M, N);
    }
    return s;
  };
  const improve = (ch: Int32Array): { pruned: number; swaps: number; passes: number } => {
    const p = new Float64Array(G);
    for (let g = 0; g < G; g++) p[g] = prunedOf(ch, g);
    let swaps = 0;
    let passes = 0;
    for (; passes < maxPasses && budget > 0; passes++) {
      let any = false;
      for (let g1 = 0; g1 < G && budget > 0; g1++) {
        for (let g2 = g1 + 1; g2 < G && budget > 0; g2++) {
          budget -= 2 * M * M * V * M;
          const base = p[g1]! + p[g2]!;
          let best = base * (1 - 1e-12);
          let ba = -1;
          let bb = -1;
          let b1 = 0;
          let b2 = 0;
          for (let a = 0; a < M; a++) {
            for (let b = 0; b < M; b++) {
              const ia = g1 * M + a;
              const ib = g2 * M + b;
              const ca = ch[ia]!;
              ch[ia] = ch[ib]!;
              ch[ib] = ca;
              const q1 = prunedOf(ch, g1);
              const q2 = prunedOf(ch, g2);
              ch[ib] = ch[ia]!;
              ch[ia] = ca;
              if (q1 + q2 < best) {
                best = q1 + q2;
                ba = ia;
                bb = ib;
                b1 = q1;
                b2 = q2;
              }
            }
          }
          if (ba >= 0) {
            const t = ch[ba]!;
            ch[ba] = ch[bb]!;
            ch[bb] = t;
            p[g1] = b1;
            p[g2] = b2;
            swaps++;
            any = true;
          }
        }
      }
      if (!any) {
        passes++;
        break;
      }
    }
    let pruned = 0;
    for (let g = 0; g < G; g++) pruned += p[g]!;
    return { pruned, swaps, passes };
  };
  const identity = new Int32Array(size).map((_, i) => i);
  let prunedBefore = 0;
  for (let g = 0; g < G; g++) prunedBefore += prunedOf(identity, g);
  const fromIdentity = Int32Array.from(identity);
  const a = improve(fromIdentity);
  // RIA's allocation: rank channels by total importance (ties: lower index), deal round-robin.
  const order = Array.from(identity).sort((x, y) => total[y]! - total[x]! || x - y);
  const dealt = new Int32Array(size);
  for (let k = 0; k < size; k++) dealt[(k % G) * M + Math.floor(k / G)] = order[k]!;
  const b = improve(dealt);
  const pick = b.pruned < a.pruned ? { ch: dealt, r: b } : { ch: fromIdentity, r: a };
  // Channels within a run in ascending order (the mask does not care; keeps the result canonical).
  for (let g = 0; g < G; g++) pick.ch.subarray(g * M, (g + 1) * M).sort();
  return {
    perm: pick.ch,
    prunedBefore,
    prunedAfter: pick.r.pruned, // ≤ prunedBefore: the identity start only takes improving swaps
    swaps: a.swaps + b.swaps,
    passes: a.passes + b.passes,
    budgetSpent: budget <= 0,
  };
}

/** The column permutation (new column j holds old column `out[j]`) of per-domain permutations. */
export function columnPermutation(
  cols: number,
  domains: readonly ChannelDomain[],
  perms: readonly Int32Array[],
): Int32Array {
  const out = new Int32Array(cols).map((_, i) => i);
  domains.forEach((dom, k) => {
    const perm = perms[k]!;
    for (const o of dom.offsets) for (let p = 0; p < dom.size; p++) out[o + p] = o + perm[p]!;
  });
  return out;
}

/** True when `perm` maps every index to itself. */
export function isIdentity(perm: Int32Array): boolean {
  for (let i = 0; i < perm.length; i++) if (perm[i] !== i) return false;
  return true;
}

/** new[r, j] = old[r, perm[j]] for a (rows, cols) row-major matrix. */
export function permuteColumns(
  data: Float32Array,
  rows: number,
  cols: number,
  perm: Int32Array,
): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) out[o + j] = data[o + perm[j]!]!;
  }
  return out;
}

/** new[i, :] = old[perm[i], :] for a (rows, cols) row-major matrix. */
export function permuteRows(data: Float32Array, cols: number, perm: Int32Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < perm.length; i++)
    out.set(data.subarray(perm[i]! * cols, (perm[i]! + 1) * cols), i * cols);
  return out;
}

function permuteVector(v: Float64Array | undefined, perm: Int32Array): Float64Array | undefined {
  return v === undefined ? undefined : Float64Array.from(perm, (p) => v[p]!);
}

function permuteSquare(m: Float64Array | undefined, perm: Int32Array): Float64Array | undefined {
  if (m === undefined) return undefined;
  const n = perm.length;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const src = perm[i]! * n;
    for (let j = 0; j < n; j++) out[i * n + j] = m[src + perm[j]!]!;
  }
  return out;
}

/**
 * m ← m[perm, perm] in place (new[i, j] = old[perm[i], perm[j]]), with two rows of scratch: rows
 * moved along the permutation's cycles, then each row's columns gathered. The same values as
 * {@link permuteSquare}'s copy, bit for bit (moves only).
 */
function permuteSquareInPlace(m: Float64Array | undefined, perm: Int32Array): Float64Array | undefined {
  if (m === undefined) return undefined;
  const n = perm.length;
  const tmp = new Float64Array(n); // (n,)
  const done = new Uint8Array(n);
  for (let s = 0; s < n; s++) {
    if (done[s] === 1) continue;
    tmp.set(m.subarray(s * n, (s + 1) * n));
    let i = s;
    for (;;) {
      done[i] = 1;
      const j = perm[i]!;
      if (j === s) {
        m.set(tmp, i * n);
        break;
      }
      m.copyWithin(i * n, j * n, (j + 1) * n);
      i = j;
    }
  }
  for (let i = 0; i < n; i++) {
    const o = i * n;
    tmp.set(m.subarray(o, o + n));
    for (let j = 0; j < n; j++) m[o + j] = tmp[perm[j]!]!;
  }
  return m;
}

/**
 * m[:, perm] for a (rows, cols) float64 matrix (new[r, j] = old[r, perm[j]]): MAMA's product statistic
 * M = W·(C − H̃)ᵀ, whose columns are the input's channels (its rows are the consumer's outputs, which
 * the permutation does not move). In place with one row of scratch, or a copy. Moves only.
 */
function permuteProductColumns(
  m: Float64Array | undefined,
  cols: number,
  perm: Int32Array,
  inPlace: boolean,
): Float64Array | undefined {
  if (m === undefined) return undefined;
  const out = inPlace ? m : new Float64Array(m.length);
  const tmp = new Float64Array(cols); // (cols,)
  for (let o = 0; o < m.length; o += cols) {
    tmp.set(m.subarray(o, o + cols));
    for (let j = 0; j < cols; j++) out[o + j] = tmp[perm[j]!]!;
  }
  return out;
}

/**
 * The statistics of the input whose columns are permuted by `perm` (new column j = old column
 * perm[j]): column vectors gathered, the Gram and cross-Gram permuted on both sides, the product
 * statistic's columns permuted (exact copies; with `inPlace`, the given Gram, cross-Gram and product
 * arrays themselves are permuted and returned, so no
 * second cols² float64 matrix is allocated — 2 × 512 MiB at cols = 8192 — and `stats` is spent).
 */
export function permuteStats(stats: LinearInputStats, perm: Int32Array, inPlace = false): LinearInputStats {
  const v = (k: "sqNorm" | "weightedSqNorm" | "sum"): { [x: string]: Float64Array } => {
    const p = permuteVector(stats[k], perm);
    return p === undefined ? {} : { [k]: p };
  };
  const square = inPlace ? permuteSquareInPlace : permuteSquare;
  const gram = square(stats.gram, perm);
  const crossGram = square(stats.crossGram, perm);
  const targetProduct = permuteProductColumns(stats.targetProduct, stats.cols, perm, inPlace);
  return {
    cols: stats.cols,
    tokens: stats.tokens,
    weightSum: stats.weightSum,
    ...v("sqNorm"),
    ...v("weightedSqNorm"),
    ...v("sum"),
    ...(gram !== undefined ? { gram } : {}),
    ...(crossGram !== undefined ? { crossGram } : {}),
    ...(targetProduct !== undefined ? { targetProduct } : {}),
  };
}
