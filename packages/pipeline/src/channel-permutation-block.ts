// ---- Channel permutation of one decoder block before its o_proj / down_proj are pruned at N:M ----

import type { Logger, NmPattern } from "@mama-prune/core";
import type { LinearName, LlamaModel } from "@mama-prune/model";
import {
  type ChannelDomain,
  type ChannelPermutationOptions,
  chooseNmChannelPermutation,
  columnPermutation,
  DEFAULT_PERMUTATION_BUDGET,
  isIdentity,
  permuteColumns,
  permuteRows,
  permuteStats,
} from "./channel-permutation.ts";
import type { LinearInputStats } from "./stats.ts";

/** What {@link permuteBlockChannels} did to one consumer linear. */
export interface BlockPermutationResult {
  /** The consumer's input statistics in the new channel order (the old ones when nothing moved). */
  readonly stats: LinearInputStats;
  /** Σ of the importance N:M drops before / after (0 / 0 when skipped). */
  readonly prunedBefore: number;
  readonly prunedAfter: number;
  /** Columns of the consumer that moved. */
  readonly moved: number;
  /** Why nothing was permuted, when nothing was. */
  readonly skipped?: string;
}

/** The consumer linears whose input channels can be permuted exactly, and their producers. */
export const PERMUTABLE: Readonly<Partial<Record<LinearName, readonly LinearName[]>>> = {
  o_proj: ["v_proj"],
  down_proj: ["gate_proj", "up_proj"],
};

/**
 * Permute the input channels of `name` (o_proj or down_proj) of block `local` of `model`, and the
 * rows of its producers, so that the model stays the same function and an N:M mask of `name` drops
 * the least importance (`chooseNmChannelPermutation` on w²·H_jj, H the input's Gram diagonal; the
 * squared activation norms when the Gram is absent; w² without either):
 * - down_proj: intermediate channels; gate_proj and up_proj rows move with down_proj's columns;
 * - o_proj: within each kv head's dims; v_proj's rows of that kv head and o_proj's columns of every
 *   query head that reads it move together (v carries no RoPE). Skipped with attention biases (the
 *   v bias would have to move too) or a head dim that is not a multiple of M.
 * The producers are already pruned (their masks are row-wise, so moving rows keeps them valid); the
 * consumer is still dense. Writes the permuted weights into `model` (setLinearWeight) and returns the
 * consumer's statistics in the new order. `options.budget` is the whole linear's swap-search budget
 * (default {@link DEFAULT_PERMUTATION_BUDGET}), split evenly over its channel domains.
 *
 * @throws RangeError for a linear that is not o_proj or down_proj.
 */
export function permuteBlockChannels(
  model: LlamaModel,
  local: number,
  name: LinearName,
  stats: LinearInputStats,
  nm: NmPattern,
  log: Logger,
  options: ChannelPermutationOptions = {},
): BlockPermutationResult {
  const producers = PERMUTABLE[name];
  if (producers === undefined) {
    throw new RangeError(`permuteBlockChannels: linear must be o_proj or down_proj, got ${name}`);
  }
  const cfg = model.config;
  const [rows, cols] = model.linearShape(local, name);
  const skip = (why: string): BlockPermutationResult => {
    log.debug(`permute ${name} (block ${local}): skipped, ${why}`);
    return { stats, prunedBefore: 0, prunedAfter: 0, moved: 0, skipped: why };
  };
  let domains: ChannelDomain[];
  if (name === "down_proj") {
    if (cols % nm.m !== 0) return skip(`intermediate size ${cols} is not a multiple of ${nm.m}`);
    domains = [{ size: cols, offsets: [0] }];
  } else {
    if (cfg.attentionBias) return skip("the attention projections carry biases");
    const hd = cfg.headDim;
    if (hd % nm.m !== 0) return skip(`head dim ${hd} is not a multiple of ${nm.m}`);
    const group = cfg.numHeads / cfg.numKvHeads;
    domains = [];
    for (let k = 0; k < cfg.numKvHeads; k++) {
      domains.push({ size: hd, offsets: Array.from({ length: group }, (_, i) => (k * group + i) * hd) });
    }
  }
  const W = model.getLinearWeight(local, name); // (rows, cols)
  const diag = new Float64Array(cols);
  for (let j = 0; j < cols; j++) {
    diag[j] = stats.gram?.[j * cols + j] ?? stats.sqNorm?.[j] ?? stats.weightedSqNorm?.[j] ?? 1;
  }
  const score = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) score[r * cols + j] = W[r * cols + j]! ** 2 * diag[j]!;
  }
  let before = 0;
  let after = 0;
  // The work budget is the linear's: split evenly over its domains (o_proj: one per kv head), so a
  // wide attention block does not pay numKvHeads full searches (1B: 8 × 2e8 reads, ≈ 16 s of JS).
  const perDomain = { ...options, budget: (options.budget ?? DEFAULT_PERMUTATION_BUDGET) / domains.length };
  const perms = domains.map((d) => {
    const p = chooseNmChannelPermutation(score, rows, cols, d, nm, perDomain);
    before += p.prunedBefore;
    after += p.prunedAfter;
    if (p.budgetSpent) log.debug(`permute ${name} (block ${local}): swap search stopped by its budget`);
    return p.perm;
  });
  const colPerm = columnPermutation(cols, domains, perms);
  if (isIdentity(colPerm))
    return { ...skip("the identity is best"), prunedBefore: before, prunedAfter: after };
  // Producers' output rows: down_proj's columns are gate/up rows one to one; o_proj's query-head
  // columns map to v rows through the kv head (the first copy's permutation is the kv head's).
  let rowPerm: Int32Array;
  if (name === "down_proj") {
    rowPerm = colPerm;
  } else {
    const hd = cfg.headDim;
    rowPerm = new Int32Array(cfg.numKvHeads * hd);
    domains.forEach((_, k) => {
      for (let p = 0; p < hd; p++) rowPerm[k * hd + p] = k * hd + perms[k]![p]!;
    });
  }
  for (const prod of producers) {
    const [, pc] = model.linearShape(local, prod);
    model.setLinearWeight(local, prod, permuteRows(model.getLinearWeight(local, prod), pc, rowPerm));
  }
  model.setLinearWeight(local, name, permuteColumns(W, rows, cols, colPerm));
  let moved = 0;
  for (let j = 0; j < cols; j++) if (colPerm[j] !== j) moved++;
  log.debug(
    `permute ${name} (block ${local}): ${moved} of ${cols} columns moved, importance N:M drops ${before.toExponential(4)} → ${after.toExponential(4)}`,
  );
  return {
    stats: permuteStats(stats, colPerm, options.inPlaceStats === true),
    prunedBefore: before,
    prunedAfter: after,
    moved,
  };
}
