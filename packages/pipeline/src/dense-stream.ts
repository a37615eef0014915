// ---- Two hidden-state streams through a block: the pruned stream (X̃) and the dense one (X) ----
//
// MAMA's dense-target refit (issue 13, `target: "dense"`) solves min ‖W'X̃ − WX‖² with X̃ the input
// of a linear on the PRUNED model's hidden states (as every method's statistics today) and X the
// input of the same linear in the DENSE model on the same windows. It needs, per shared linear
// input, the cross-Gram C = X̃ᵀX next to H̃ = X̃ᵀX̃. This file runs block l twice per calibration
// batch, before block l is pruned: on the dense stream (capturing X at every shared input and
// producing the next dense hidden states) and on the pruned stream (accumulating the usual
// statistics exactly as `collectBlockStats` does, plus C). Only runs whose method declares
// `crossGram` in its needs come here; every other run takes `collectBlockStats`, untouched.

import { type ComputeBackend, createYielder, PruneError } from "@mama-prune/core";
import { LINEAR_NAMES, type LinearName, type LlamaModel } from "@mama-prune/model";
import { recycleFloats } from "@mama-prune/redistribute";
import { INPUT_KEYS, INPUT_OF, type InputKey, inputCols } from "./block-runner.ts";
import { collectGarbageNow } from "./collect-garbage.ts";
import { type CrossGramScratch, crossGramAccumulateOnBackend } from "./cross-gram-backend.ts";
import type { CalibrationInput } from "./prune-options.ts";
import {
  createStatsAccumulator,
  type LinearInputStats,
  type StatsAccumulator,
  type StatsNeeds,
} from "./stats.ts";
import { type TargetProductScratch, targetProductAccumulate, useTargetProduct } from "./target-product.ts";

/**
 * acc[a, b] += Σ_t w_t·xp[t, a]·xd[t, b] for xp, xd [rows, cols] (the cross-Gram X̃ᵀX of the pruned
 * and the dense stream's inputs of one linear), in float64 (each float32 product is exact in float64).
 * `rowWeights` (rows,) are the sample weights (absent = 1), as the weighted Gram Σ w_t·x_t x_tᵀ.
 *
 * @throws PruneError SHAPE_MISMATCH for inputs or an accumulator of the wrong size.
 * @example
 * const c = new Float64Array(4);
 * crossGramAccumulate(new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 2, c);
 * c; // Float64Array [3, 4, 6, 8]
 */
export function crossGramAccumulate(
  xp: Float32Array,
  xd: Float32Array,
  rows: number,
  cols: number,
  acc: Float64Array,
  rowWeights?: Float32Array,
): void {
  if (xp.length !== rows * cols || xd.length !== rows * cols || acc.length !== cols * cols) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `crossGramAccumulate: inputs must be [rows, cols] = [${rows}, ${cols}] and the accumulator [cols, cols]. Expected lengths ${rows * cols}, ${rows * cols}, ${cols * cols}, got ${xp.length}, ${xd.length}, ${acc.length}.`,
    );
  }
  if (rowWeights !== undefined && rowWeights.length !== rows) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `crossGramAccumulate: sample weights have the wrong length. Expected one per row (${rows}), got ${rowWeights.length}.`,
    );
  }
  const d = new Float64Array(cols); // (cols,) w_t·xd[t, :]
  for (let t = 0; t < rows; t++) {
    const w = rowWeights === undefined ? 1 : rowWeights[t]!;
    if (w === 0) continue;
    const o = t * cols;
    for (let b = 0; b < cols; b++) d[b] = w * xd[o + b]!;
    for (let a = 0; a < cols; a++) {
      const pa = xp[o + a]!;
      if (pa === 0) continue;
      const row = a * cols;
      for (let b = 0; b < cols; b++) acc[row + b] = acc[row + b]! + pa * d[b]!;
    }
  }
}

/** What {@link collectBlockStatsTwoStreams} runs on. */
export interface TwoStreamInput {
  readonly model: LlamaModel;
  readonly local: number;
  /** The pruned stream's hidden states (nsamples·seqlen, H): block l's input in the pruned model. */
  readonly hidden: Float32Array;
  /** The dense stream's hidden states (nsamples·seqlen, H): block l's input in the dense model. */
  readonly denseHidden: Float32Array;
  readonly calibration: CalibrationInput;
  readonly batchSize: number;
  readonly rowWeights: Float32Array | undefined; // (nsamples·seqlen,)
  /** The statistics of the pruned stream (`crossGram` adds C = X̃ᵀX to each input's stats). */
  readonly needs: StatsNeeds;
  readonly backend: ComputeBackend;
  readonly signal: AbortSignal | undefined;
  /**
   * Defer the statistics of the inputs where keeping both streams' inputs is smaller (see
   * {@link collectBlockStatsTwoStreams}; default true). false: every input accumulated in the pass.
   */
  readonly deferStatistics?: boolean;
  /** The run's garbage collection hook (`PruneOptions.collectGarbage`), called before each batch. */
  readonly collectGarbage?: () => void;
}

/** The linear at which each shared input is captured (the first of its group). */
const FIRST_OF: Readonly<Record<InputKey, LinearName>> = {
  attn: "q_proj",
  o: "o_proj",
  mlp: "gate_proj",
  down: "down_proj",
};

/**
 * Run the still-dense block `local` over the windows on both streams, batch by batch: first on the
 * dense stream (capturing each shared linear input X, keeping the block's output as the next dense
 * hidden states), then on the pruned stream with the same hooks and accumulators as
 * `collectBlockStats` (so H̃, Σx², … are the same numbers bit for bit) plus, when `needs.crossGram`,
 * C = Σ_t w_t·x̃_t x_tᵀ per shared input (`LinearInputStats.crossGram`) — or, with
 * `needs.targetProduct` on an input where `useTargetProduct` holds (one consumer W, out × cols, with
 * cols ≥ 512 and 2·out < cols: llama-3.2-1b's down_proj), the product M = Σ_t w_t·W(x_t − x̃_t)·x̃_tᵀ
 * instead (`LinearInputStats.targetProduct`, `targetProductAccumulate`): the dense target needs C
 * only through W·(C − H̃)ᵀ = M, at 2·out·cols instead of cols² multiply-adds per token.
 *
 * Memory: one more hidden-state array (the dense stream, whose output `denseOutput` is written over
 * `denseHidden`: the same array) and one batch of captured inputs, their
 * buffers (and the cross-Gram's float32 transposes) reused from batch to batch.
 *
 * Deferred statistics: an input with the product statistic whose two streams' inputs over all the
 * windows take less memory than its statistics (2·tokens·cols float32 against (cols + out)·cols
 * float64: a llama-2-7b down_proj with 4 × 512 tokens, 172 MiB against 1.27 GiB) keeps those inputs
 * instead, and its statistics are accumulated only when `deferred[k]()` is called (by the caller, at
 * that input's first linear): the same calls on the same rows in the same order, so the same numbers
 * bit for bit, without holding them through the block's other linears. The kept inputs and the
 * accumulation's float32 operands go to the PCG pool afterwards (the next rows × cols arrays).
 *
 * @throws PruneError SHAPE_MISMATCH when the two streams differ in length; the errors of the stats
 *   accumulators; ABORTED.
 */
export async function collectBlockStatsTwoStreams(o: TwoStreamInput): Promise<{
  stats: Partial<Record<InputKey, LinearInputStats>>;
  denseOutput: Float32Array;
  deferred: Partial<Record<InputKey, () => Promise<LinearInputStats>>>;
}> {
  const { model, local, calibration: cal, batchSize, signal } = o;
  if (o.denseHidden.length !== o.hidden.length) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `prune: block ${local}: the dense and the pruned hidden-state streams differ. Expected ${o.hidden.length} values each, got ${o.denseHidden.length} for the dense stream.`,
    );
  }
  const H = model.config.hiddenSize;
  const S = cal.seqlen;
  const cols = {} as Record<InputKey, number>;
  const accs = {} as Record<InputKey, StatsAccumulator>;
  const cross = {} as Record<InputKey, Float64Array>;
  const scratch = {} as Record<InputKey, CrossGramScratch>; // the cross-Gram's transposes, per input
  // Inputs whose dense target comes from the product statistic: the consumer's name and dense weight.
  const product = {} as Partial<
    Record<InputKey, { name: LinearName; weight: Float32Array; acc: Float64Array }>
  >;
  const productScratch = {} as Record<InputKey, TargetProductScratch>;
  // Deferred inputs (see above): both streams' inputs over all windows, (tokens, cols) each.
  const kept = {} as Partial<Record<InputKey, { xp: Float32Array; xd: Float32Array }>>;
  const tokens = cal.nsamples * cal.seqlen;
  for (const k of INPUT_KEYS) {
    cols[k] = inputCols(model, local, k);
    scratch[k] = {};
    productScratch[k] = {};
    if (!o.needs.crossGram) {
      accs[k] = createStatsAccumulator(cols[k], o.needs, o.backend);
      continue;
    }
    const consumers = LINEAR_NAMES.filter((n) => INPUT_OF[n] === k);
    const [out] = model.linearShape(local, consumers[0]!);
    if (o.needs.targetProduct === true && useTargetProduct(out, cols[k], consumers.length)) {
      const name = consumers[0]!;
      const weight = model.getLinearWeight(local, name); // (out, cols) dense, read only
      // Both streams' inputs (float32) against H̃ and M (float64): tokens·cols·2·4 < (cols + out)·cols·8.
      if (o.deferStatistics !== false && tokens * cols[k] * 2 * 4 < (cols[k] + out) * cols[k] * 8) {
        kept[k] = { xp: new Float32Array(tokens * cols[k]), xd: new Float32Array(tokens * cols[k]) };
        product[k] = { name, weight, acc: new Float64Array(0) }; // accumulated when deferred[k]() runs
        continue;
      }
      accs[k] = createStatsAccumulator(cols[k], o.needs, o.backend);
      product[k] = { name, weight, acc: new Float64Array(out * cols[k]) }; // (out, cols)
    } else {
      accs[k] = createStatsAccumulator(cols[k], o.needs, o.backend);
      cross[k] = new Float64Array(cols[k] * cols[k]); // (cols, cols)
    }
  }
  // The dense stream's output overwrites its input batch by batch (a batch's rows are read only by its
  // own dense run): no third hidden-state array (128 MiB at 32 × 512 × 2048).
  const denseOutput = o.denseHidden; // (nsamples·seqlen, H)
  const tick = createYielder(signal);
  const captured: Partial<Record<InputKey, Float32Array>> = {};
  const capturedBuf: Partial<Record<InputKey, Float32Array>> = {};
  for (let b0 = 0; b0 < cal.nsamples; b0 += batchSize) {
    const where = `prune: block ${local} (calibration batch ${b0 / batchSize}, two streams)`;
    await tick(where);
    await collectGarbageNow(o.collectGarbage); // the previous batch's (or block's) dead activations
    const nb = Math.min(batchSize, cal.nsamples - b0);
    const r0 = b0 * S;
    const rows = nb * S;
    const w = o.rowWeights?.subarray(r0, r0 + rows); // (rows,)
    // Dense stream: capture X at each shared input (the hook's array is only valid during the call).
    const xd = o.denseHidden.subarray(r0 * H, (r0 + rows) * H); // (rows, H)
    const yd = await model.runBlock(local, xd, nb, S, {
      onLinearInput: async (name: LinearName, xin: Float32Array): Promise<void> => {
        await tick(`${where} dense ${name}`);
        const k = INPUT_OF[name];
        if (FIRST_OF[k] !== name) return;
        const keep = kept[k];
        if (keep !== undefined) {
          keep.xd.set(xin, r0 * cols[k]);
          return;
        }
        // One buffer per input for all batches (the last batch may be shorter: a prefix of it).
        let buf = capturedBuf[k];
        if (buf === undefined || buf.length < xin.length) {
          buf = new Float32Array(xin.length);
          capturedBuf[k] = buf;
        }
        captured[k] = buf.subarray(0, xin.length);
        captured[k].set(xin);
      },
    });
    denseOutput.set(yd, r0 * H);
    // Pruned stream: the usual statistics, plus C against the captured dense input.
    const xp = o.hidden.subarray(r0 * H, (r0 + rows) * H); // (rows, H)
    await model.runBlock(local, xp, nb, S, {
      inputsOnly: true, // the pruned stream's output comes from re-running the pruned block
      onLinearInput: async (name: LinearName, xin: Float32Array, n: number): Promise<void> => {
        await tick(`${where} ${name}`);
        const k = INPUT_OF[name];
        if (FIRST_OF[k] !== name) return;
        const keep = kept[k];
        if (keep !== undefined) {
          keep.xp.set(xin, r0 * cols[k]);
          return;
        }
        await accs[k].add(xin, n, w);
        const p = product[k];
        if (p !== undefined) {
          await targetProductAccumulate(
            o.backend,
            xin,
            captured[k]!,
            p.weight,
            n,
            cols[k],
            p.weight.length / cols[k],
            p.acc,
            w,
            productScratch[k],
          );
        }
        const c = cross[k];
        if (c !== undefined)
          await crossGramAccumulateOnBackend(
            o.backend,
            xin,
            captured[k]!,
            n,
            cols[k],
            c,
            w,
            undefined,
            scratch[k],
          );
        await tick(`${where} ${name}`);
      },
    });
  }
  const stats: Partial<Record<InputKey, LinearInputStats>> = {};
  const deferred: Partial<Record<InputKey, () => Promise<LinearInputStats>>> = {};
  for (const k of INPUT_KEYS) {
    const c = cross[k];
    const p = product[k];
    const keep = kept[k];
    if (keep !== undefined && p !== undefined) {
      deferred[k] = deferLater(o, k, cols[k], keep, p.weight);
      continue;
    }
    stats[k] =
      c !== undefined
        ? { ...accs[k]!.result(), crossGram: c }
        : p !== undefined
          ? { ...accs[k]!.result(), targetProduct: p.acc }
          : accs[k]!.result();
  }
  return { stats, denseOutput, deferred };
}

/**
 * The deferred call, made outside {@link collectBlockStatsTwoStreams}: a closure made there would keep
 * that function's whole scope alive until it is called (V8 shares one context among a scope's
 * closures), and with it every other input's Grams, cross-Grams and capture buffers (≈ 1 GiB on a 7B
 * block) after their linears are done with them.
 */
function deferLater(
  o: TwoStreamInput,
  k: InputKey,
  cols: number,
  kept: { xp: Float32Array; xd: Float32Array },
  weight: Float32Array,
): () => Promise<LinearInputStats> {
  return () => deferredProductStats(o, k, cols, kept, weight);
}

/**
 * A deferred input's statistics (see {@link collectBlockStatsTwoStreams}) from its kept inputs: batch
 * by batch as in the pass (the same rows, sample weights and calls, in the same order), the pruned
 * stream's usual statistics and the product statistic against the dense stream's input. The kept
 * inputs and the product's float32 operands are handed to the PCG pool at the end (read no more).
 */
async function deferredProductStats(
  o: TwoStreamInput,
  k: InputKey,
  cols: number,
  kept: { xp: Float32Array; xd: Float32Array },
  weight: Float32Array,
): Promise<LinearInputStats> {
  const { calibration: cal, batchSize } = o;
  const S = cal.seqlen;
  const out = weight.length / cols;
  const tick = createYielder(o.signal);
  const acc = createStatsAccumulator(cols, o.needs, o.backend);
  const product = new Float64Array(out * cols); // (out, cols)
  const scratch: TargetProductScratch = {};
  for (let b0 = 0; b0 < cal.nsamples; b0 += batchSize) {
    const where = `prune: block ${o.local} (input ${k}, calibration batch ${b0 / batchSize}, deferred statistics)`;
    await tick(where);
    const rows = Math.min(batchSize, cal.nsamples - b0) * S;
    const r0 = b0 * S;
    const w = o.rowWeights?.subarray(r0, r0 + rows); // (rows,)
    const xp = kept.xp.subarray(r0 * cols, (r0 + rows) * cols); // (rows, cols)
    const xd = kept.xd.subarray(r0 * cols, (r0 + rows) * cols); // (rows, cols)
    await acc.add(xp, rows, w);
    await targetProductAccumulate(o.backend, xp, xd, weight, rows, cols, out, product, w, scratch);
    await tick(where);
  }
  for (const a of [kept.xp, kept.xd, scratch.diff, scratch.e, scratch.et, scratch.xt])
    if (a !== undefined) recycleFloats(a);
  return { ...acc.result(), targetProduct: product };
}
