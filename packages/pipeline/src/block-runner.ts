// ---- Running one decoder block over the calibration windows, collecting its input statistics ----

import { type ComputeBackend, createYielder } from "@mama-prune/core";
import type { LinearName, LlamaConfig, LlamaModel } from "@mama-prune/model";
import type { CalibrationInput } from "./prune-options.ts";
import {
  createStatsAccumulator,
  type LinearInputStats,
  type StatsAccumulator,
  type StatsNeeds,
} from "./stats.ts";

/** Where the decoder blocks come from: one resident model, or one block at a time. */
export interface BlockAccess {
  readonly config: LlamaConfig;
  readonly backend: ComputeBackend;
  /** Embedding rows of the calibration tokens (nsamples·seqlen, hidden). */
  embed(tokens: Int32Array): Promise<Float32Array>;
  /** A model that can run layer `l`, and the index of `l` inside that model. */
  open(l: number): Promise<{ readonly model: LlamaModel; readonly local: number }>;
}

/** Checkpoint name of linear `name` of global block `l`, opened as block `local` of `model`. */
export function linearTensorName(model: LlamaModel, local: number, l: number, name: LinearName): string {
  return model.parameterName(local, name).replace(`model.layers.${local}.`, `model.layers.${l}.`);
}

/** One shared linear input of a block: q/k/v read "attn", o "o", gate/up "mlp", down "down". */
export type InputKey = "attn" | "o" | "mlp" | "down";

/** Every {@link InputKey}, in block order. */
export const INPUT_KEYS: readonly InputKey[] = ["attn", "o", "mlp", "down"];

/** Which shared input each linear reads. */
export const INPUT_OF: Readonly<Record<LinearName, InputKey>> = {
  q_proj: "attn",
  k_proj: "attn",
  v_proj: "attn",
  o_proj: "o",
  gate_proj: "mlp",
  up_proj: "mlp",
  down_proj: "down",
};

/**
 * Run one block over all calibration windows in batches of `batchSize`; hooks accumulate stats when
 * `accs` is given. Returns the block's outputs (nsamples·seqlen, H) when `keepOutput`.
 */
export async function runBlockBatched(
  model: LlamaModel,
  layer: number,
  hidden: Float32Array, // (nsamples·seqlen, H)
  cal: CalibrationInput,
  batchSize: number,
  rowWeights: Float32Array | undefined, // (nsamples·seqlen,)
  accs: Partial<Record<InputKey, StatsAccumulator>> | undefined,
  keepOutput: boolean,
  signal: AbortSignal | undefined,
): Promise<Float32Array | undefined> {
  const H = model.config.hiddenSize;
  const S = cal.seqlen;
  const out = keepOutput ? new Float32Array(hidden.length) : undefined; // (nsamples·seqlen, H)
  // Matmuls that resolve at once never let a Ctrl-C handler or a timer run: give the event loop a
  // turn between batches and inside each block run (at every linear input, through the hooks).
  const tick = createYielder(signal);
  for (let b0 = 0; b0 < cal.nsamples; b0 += batchSize) {
    const where = `prune: block ${layer} (calibration batch ${b0 / batchSize})`;
    await tick(where);
    const nb = Math.min(batchSize, cal.nsamples - b0);
    const r0 = b0 * S;
    const rows = nb * S;
    const x = hidden.subarray(r0 * H, (r0 + rows) * H); // (rows, H)
    const w = rowWeights?.subarray(r0, r0 + rows); // (rows,)
    const hooks =
      accs === undefined && signal === undefined
        ? undefined
        : {
            // Statistics only: the block's output is not needed, so down_proj's product is skipped.
            ...(keepOutput ? {} : { inputsOnly: true }),
            onLinearInput: async (name: LinearName, xin: Float32Array, n: number): Promise<void> => {
              await tick(`${where} ${name}`);
              // q/k/v and gate/up share one input: accumulate once, at the first linear of the group.
              if (accs === undefined || name === "k_proj" || name === "v_proj" || name === "up_proj") return;
              const acc = accs[INPUT_OF[name]];
              if (acc === undefined) return;
              await acc.add(xin, n, w);
              await tick(`${where} ${name}`); // the accumulation (XᵀX) is a stretch of its own
            },
          };
    const y = await model.runBlock(layer, x, nb, S, hooks); // (rows, H)
    if (out) out.set(y, r0 * H);
  }
  return out;
}

/** Input width of one shared linear input of block `local`. */
export function inputCols(model: LlamaModel, local: number, k: InputKey): number {
  if (k === "o") return model.linearShape(local, "o_proj")[1];
  if (k === "down") return model.linearShape(local, "down_proj")[1];
  return model.linearShape(local, "q_proj")[1];
}

/** What {@link collectBlockStats} runs on. */
export interface BlockStatsInput {
  readonly model: LlamaModel;
  readonly local: number;
  readonly hidden: Float32Array; // (nsamples·seqlen, H)
  readonly calibration: CalibrationInput;
  readonly batchSize: number;
  readonly rowWeights: Float32Array | undefined; // (nsamples·seqlen,)
  readonly needs: StatsNeeds;
  readonly backend: ComputeBackend;
  readonly signal: AbortSignal | undefined;
  /** Also return the block's outputs (the next block's inputs). */
  readonly keepOutput: boolean;
}

/**
 * Run block `local` over the windows and accumulate `needs` for each of its 4 shared inputs.
 */
export async function collectBlockStats(
  o: BlockStatsInput,
): Promise<{ stats: Record<InputKey, LinearInputStats>; output: Float32Array | undefined }> {
  const accs: Partial<Record<InputKey, StatsAccumulator>> = {};
  for (const k of INPUT_KEYS)
    accs[k] = createStatsAccumulator(inputCols(o.model, o.local, k), o.needs, o.backend);
  const output = await runBlockBatched(
    o.model,
    o.local,
    o.hidden,
    o.calibration,
    o.batchSize,
    o.rowWeights,
    accs,
    o.keepOutput,
    o.signal,
  );
  const stats = {} as Record<InputKey, LinearInputStats>;
  for (const k of INPUT_KEYS) stats[k] = accs[k]!.result();
  return { stats, output };
}
