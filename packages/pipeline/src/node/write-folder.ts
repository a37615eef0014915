// Node: write a pruned checkpoint folder on disk, refusing to touch the input.

import type { WriteHfCheckpointResult } from "@mama-prune/tensor-io";
import { type CheckpointDirWriterOptions, createCheckpointDirWriter } from "@mama-prune/tensor-io/node";
import { type WritePrunedCheckpointOptions, writePrunedCheckpoint } from "../checkpoint.ts";

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
