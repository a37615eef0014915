// Node conveniences: open a safetensors file lazily, write one atomically.

import {
  inspectSafetensors,
  type ReadSafetensorsOptions,
  readSafetensors,
  type SafetensorsEntry,
  type SafetensorsInspection,
  type SafetensorsLayoutOptions,
  type SafetensorsReader,
  writeSafetensors,
} from "../safetensors.ts";
import { type AtomicFileSinkOptions, createAtomicFileSink } from "./atomic-file-sink.ts";
import { openFileSource } from "./file-source.ts";

/**
 * Open a safetensors file lazily through a file handle (positional reads, one tensor at a time).
 * `close()` on the reader closes the file.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND when the file does not exist; TENSOR_IO_MALFORMED / DTYPE_UNSUPPORTED as {@link readSafetensors}.
 * @example
 * const st = await readSafetensorsFile("model.safetensors");
 * const w = await st.readF32("model.embed_tokens.weight"); await st.close();
 */
export async function readSafetensorsFile(
  path: string,
  options: ReadSafetensorsOptions = {},
): Promise<SafetensorsReader> {
  const src = await openFileSource(path);
  try {
    return await readSafetensors(src, options);
  } catch (e) {
    await src.close();
    throw e;
  }
}

/**
 * Validate a safetensors file on disk without reading tensor data (see `inspectSafetensors`): only
 * the first 8 bytes and the header are read; the file is closed before returning.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND when the file does not exist; TENSOR_IO_MALFORMED /
 *   DTYPE_UNSUPPORTED naming the file, the tensor and the byte offsets.
 * @example
 * const info = await inspectSafetensorsFile("model.safetensors", { lenient: true });
 * console.log(info.tensors.length, info.warnings.map((w) => w.message));
 */
export async function inspectSafetensorsFile(
  path: string,
  options: Omit<SafetensorsLayoutOptions, "name"> = {},
): Promise<SafetensorsInspection> {
  const src = await openFileSource(path);
  try {
    return await inspectSafetensors(src, options);
  } finally {
    await src.close();
  }
}

/** Options of {@link writeSafetensorsFile}. */
export interface WriteSafetensorsFileOptions extends AtomicFileSinkOptions {
  /** The `__metadata__` map (string → string). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Checked before each tensor; on abort the temporary file is deleted. */
  readonly signal?: AbortSignal;
}

/**
 * Write a safetensors file atomically (temp file in the same folder, fsync, rename), pulling lazy
 * tensor data one entry at a time.
 *
 * @returns Bytes written.
 * @throws PruneError TENSOR_IO_EXISTS (destination exists without `overwrite`, or is one of `inputs`);
 *   TENSOR_IO_WRITE_FAILED; SHAPE_MISMATCH; DTYPE_OUT_OF_RANGE; ABORTED.
 * @example
 * await writeSafetensorsFile("w.safetensors", [{ name: "w", dtype: "F16", shape: [2], data: new Float32Array([1, 2]) }], {
 *   metadata: { format: "pt" },
 * });
 */
export async function writeSafetensorsFile(
  path: string,
  entries: readonly SafetensorsEntry[],
  options: WriteSafetensorsFileOptions = {},
): Promise<number> {
  const sinkOptions: AtomicFileSinkOptions = {
    ...(options.overwrite !== undefined ? { overwrite: options.overwrite } : {}),
    ...(options.inputs !== undefined ? { inputs: options.inputs } : {}),
  };
  const sink = await createAtomicFileSink(path, sinkOptions);
  return writeSafetensors(sink, entries, {
    ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
}
