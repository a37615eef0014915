// ---- Writing a pruned checkpoint (HF folder: dense zeros, sparse-bitmask or sparse-24-bitmask) ----

import { PruneError } from "@mama-prune/core";
import { LINEAR_NAMES, type LinearName, type LlamaModel } from "@mama-prune/model";
import {
  type Checkpoint,
  type SafetensorsEntry,
  type SparseFormat,
  type WritableCheckpointDir,
  type WriteHfCheckpointResult,
  writeHfCheckpoint,
} from "@mama-prune/tensor-io";
import type { PruneReport } from "./prune.ts";

/** Options of {@link writePrunedCheckpoint}. */
export interface WritePrunedCheckpointOptions {
  /** The pruned model (its block linears are written). */
  readonly model: LlamaModel;
  /** The checkpoint the model was loaded from: every other tensor (embeddings, norms, lm_head) and the config come from it. */
  readonly source: Checkpoint;
  /** The prune report: method, options, calibration protocol and per-layer sparsity go into config.json `mama_prune`. */
  readonly report?: PruneReport;
  /** Storage format of the block linears (default "dense": zeros stored as zeros). */
  readonly format?: SparseFormat;
  /** Extra fields merged into the `mama_prune` metadata object (e.g. the recipe, a dataset checksum). */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Shard size limit in bytes (tensor-io default when absent). */
  readonly maxShardSizeBytes?: number;
  readonly signal?: AbortSignal;
}

const LINEAR_RE = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.([a-z_]+)\.weight$/;

function linearOf(name: string): { layer: number; linear: LinearName } | undefined {
  const m = LINEAR_RE.exec(name);
  if (m === null) return undefined;
  const linear = m[2] as LinearName;
  if (!LINEAR_NAMES.includes(linear)) return undefined;
  return { layer: Number(m[1]), linear };
}

/**
 * The `mama_prune` metadata object recorded in config.json: method, scorer, group, redistribution,
 * requested sparsity and allocation, per-block targets, overall and per-linear sparsity, the
 * calibration protocol, `nm_tail_columns` (N:M runs with tail groups only: linear name → tail width),
 * and any extra `metadata`.
 *
 * @example
 * pruneMetadata(report).method; // "wanda"
 */
export function pruneMetadata(
  report: PruneReport | undefined,
  metadata: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  const base: Record<string, unknown> =
    report === undefined
      ? {}
      : {
          method: report.method,
          scorer: report.scorer,
          group: report.group,
          redistribution: report.redistribution,
          sparsity: report.sparsity,
          allocation: report.allocation,
          per_block_sparsity: report.perBlockSparsity,
          overall_sparsity: report.overallSparsity,
          per_layer_sparsity: Object.fromEntries(report.linears.map((l) => [l.name, l.sparsity])),
          // N:M on widths that are not a multiple of M: the tail-group width per linear (absent otherwise).
          ...(report.linears.some((l) => (l.nmTailColumns ?? 0) > 0)
            ? {
                nm_tail_columns: Object.fromEntries(
                  report.linears
                    .filter((l) => (l.nmTailColumns ?? 0) > 0)
                    .map((l) => [l.name, l.nmTailColumns]),
                ),
              }
            : {}),
          calibration: report.calibration ?? null,
          used_pre_checkpoint: report.usedPreCheckpoint,
        };
  return { ...base, ...metadata };
}

/**
 * The tensors of the pruned checkpoint, lazily: block linears from the model (in the source's
 * dtype), everything else copied as raw bytes from the source, one tensor at a time.
 *
 * @throws PruneError SHAPE_MISMATCH (from the generator) when a source linear's shape differs from the model's.
 * @example
 * const entries = prunedCheckpointEntries(model, source); // pass to writeHfCheckpoint
 */
export function prunedCheckpointEntries(model: LlamaModel, source: Checkpoint): SafetensorsEntry[] {
  return source.list().map((t) => {
    const lin = linearOf(t.name);
    if (lin === undefined || lin.layer >= model.config.numLayers) {
      return { name: t.name, dtype: t.dtype, shape: t.shape, data: () => source.readRaw(t.name) };
    }
    const [rows, cols] = model.linearShape(lin.layer, lin.linear);
    if (t.shape.length !== 2 || t.shape[0] !== rows || t.shape[1] !== cols) {
      throw new PruneError(
        "SHAPE_MISMATCH",
        `writePrunedCheckpoint: source tensor "${t.name}" does not match the model. Expected [${rows}, ${cols}], got [${t.shape.join(", ")}].`,
      );
    }
    return {
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      data: () => model.getLinearWeight(lin.layer, lin.linear),
    };
  });
}

/**
 * Write the pruned model as a Hugging Face folder through tensor-io's `writeHfCheckpoint` (staged,
 * committed atomically; the source is only read). Block linears are stored dense (zeros as zeros),
 * `sparse-bitmask` or `sparse-24-bitmask` (compressed-tensors layouts; sparsity_config in
 * `quantization_config`), and config.json = the source config plus a `mama_prune` object
 * ({@link pruneMetadata}). tensor-io drops `sparsity_config` for the dense format, so the sparsity of
 * a dense folder is in `mama_prune` only.
 *
 * @throws PruneError MASK_INVALID (sparse-24-bitmask on weights that are not 2:4), SHAPE_MISMATCH,
 *   TENSOR_IO_WRITE_FAILED, TENSOR_IO_EXISTS, ABORTED (from tensor-io).
 * @example
 * const dir = memoryCheckpointDir("pruned");
 * await writePrunedCheckpoint(dir, { model, source: checkpoint, report, format: "sparse-bitmask" });
 */
export async function writePrunedCheckpoint(
  dir: WritableCheckpointDir,
  options: WritePrunedCheckpointOptions,
): Promise<WriteHfCheckpointResult> {
  const config = { ...options.source.config, mama_prune: pruneMetadata(options.report, options.metadata) };
  return writeHfCheckpoint(dir, {
    config,
    tensors: prunedCheckpointEntries(options.model, options.source),
    format: options.format ?? "dense",
    ...(options.maxShardSizeBytes !== undefined ? { maxShardSizeBytes: options.maxShardSizeBytes } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
}
