// Node conveniences: open a safetensors file lazily, write one atomically.

import { type FileHandle, open } from "node:fs/promises";
import { PruneError } from "@mama-prune/core";
import {
  type ReadIntoByteSource,
  type ReadSafetensorsOptions,
  readSafetensors,
  type SafetensorsEntry,
  type SafetensorsReader,
  writeSafetensors,
} from "../safetensors.ts";
import { type AtomicFileSinkOptions, createAtomicFileSink } from "./atomic-file-sink.ts";

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
  const src = await openReadIntoFileSource(path);
  try {
    return await readSafetensors(src, options);
  } catch (e) {
    await src.close();
    throw e;
  }
}

/**
 * Like `openFileSource`, plus `readInto` (a positional read straight into caller memory), so the
 * reader fills tensors without an intermediate buffer. Kept here rather than in file-source.ts so
 * the shared ByteSource contract stays minimal.
 */
async function openReadIntoFileSource(
  path: string,
): Promise<ReadIntoByteSource & { close(): Promise<void> }> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new PruneError(
      code === "ENOENT" ? "TENSOR_IO_NOT_FOUND" : "TENSOR_IO_MALFORMED",
      `${path}: cannot open for reading (${code ?? String(e)})`,
      { cause: e },
    );
  }
  let size: number;
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new PruneError("TENSOR_IO_MALFORMED", `${path}: not a regular file`);
    size = st.size;
  } catch (e) {
    await handle.close();
    throw e;
  }
  let closed = false;
  const check = (offset: number, length: number): void => {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new RangeError(`${path}: invalid read range offset=${offset} length=${length}`);
    }
    if (offset + length > size) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${path}: read of ${length} bytes at offset ${offset} runs past the end. Expected at most ${size} bytes, got offset+length = ${offset + length}.`,
      );
    }
    if (closed) throw new PruneError("TENSOR_IO_MALFORMED", `${path}: read after close`);
  };
  const fill = async (offset: number, target: Uint8Array): Promise<void> => {
    const length = target.byteLength;
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(target, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new PruneError(
          "TENSOR_IO_MALFORMED",
          `${path}: file shrank while reading at offset ${offset + done}`,
        );
      }
      done += bytesRead;
    }
  };
  return {
    name: path,
    size,
    async readInto(offset: number, target: Uint8Array): Promise<void> {
      check(offset, target.byteLength);
      await fill(offset, target);
    },
    async read(offset: number, length: number): Promise<Uint8Array> {
      check(offset, length);
      const out = new Uint8Array(length); // (length,)
      await fill(offset, out);
      return out;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
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
