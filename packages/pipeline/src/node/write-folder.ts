// Node: write a pruned checkpoint folder on disk, refusing to touch the input.

import type { WriteHfCheckpointResult } from "@mama-prune/tensor-io";
import { type CheckpointDirWriterOptions, createCheckpointDirWriter } from "@mama-prune/tensor-io/node";
import { type WritePrunedCheckpointOptions, writePrunedCheckpoint } from "../checkpoint.ts";
import { type PruneToCheckpointOptions, type PruneToCheckpointResult, pruneToCheckpoint } from "../stream.ts";

/**
 * Write the pruned model to folder `path` atomically (staging folder renamed into place; see
 * {@link writePrunedCheckpoint}). Pass the source checkpoint's path in `inputs`: a destination equal
 * to, inside or containing an input is refused, so the input is never touched.
 *
 * @throws PruneError TENSOR_IO_EXISTS (non-empty destination without `overwrite`, or overlap with
 *   `inputs`), and everything {@link writePrunedCheckpoint} throws.
 * @example
 * await writePrunedCheckpointFolder("out/pruned", { model, source, report, format: "sparse-bitmask", inputs: ["model.bin"] });
 */
export async function writePrunedCheckpointFolder(
  path: string,
  options: WritePrunedCheckpointOptions & CheckpointDirWriterOptions,
): Promise<WriteHfCheckpointResult> {
  const dir = await createCheckpointDirWriter(path, {
    ...(options.overwrite !== undefined ? { overwrite: options.overwrite } : {}),
    ...(options.inputs !== undefined ? { inputs: options.inputs } : {}),
  });
  return writePrunedCheckpoint(dir, options);
}

/**
 * Prune `options.checkpoint` one block at a time straight into folder `path` (see
 * {@link pruneToCheckpoint}), staged and renamed into place; `inputs` guards the source paths.
 *
 * @throws PruneError TENSOR_IO_EXISTS (non-empty destination without `overwrite`, or overlap with
 *   `inputs`), and everything {@link pruneToCheckpoint} throws.
 * @example
 * const { report } = await pruneToCheckpointFolder("out/pruned", { checkpoint, method: "wanda", sparsity: 0.5, calibration, inputs: ["model"] });
 */
export async function pruneToCheckpointFolder(
  path: string,
  options: PruneToCheckpointOptions & CheckpointDirWriterOptions,
): Promise<PruneToCheckpointResult> {
  const dir = await createCheckpointDirWriter(path, {
    ...(options.overwrite !== undefined ? { overwrite: options.overwrite } : {}),
    ...(options.inputs !== undefined ? { inputs: options.inputs } : {}),
  });
  const { overwrite: _o, inputs: _i, ...rest } = options;
  return pruneToCheckpoint(dir, rest);
}
