// safetensors: 8-byte little-endian header length N, N bytes of JSON header, then the data region.
// Reading is lazy: open reads only the length and the header, validates all of it before anything
// is allocated from untrusted sizes, and each tensor read pulls exactly its own byte range.
// The streaming writer lives in safetensors-write.ts (re-exported here).

import { PruneError, quoteUntrusted, truncateForMessage } from "@mama-prune/core";
import { checkTensorRange, toByteSource } from "./byte-source.ts";
import { bytesToF32, bytesToF32Into, DTYPES, dtypeByteSize } from "./dtype.ts";
import {
  checkChunkBytes,
  DEFAULT_CHUNK_BYTES,
  type Entry,
  malformed,
  type SafetensorsWarning,
} from "./safetensors-header.ts";
import { checkSource, openHeader, type SafetensorsLayoutOptions } from "./safetensors-inspect.ts";
import type { ByteSource, TensorInfo, TensorReader } from "./types.ts";

export {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_MAX_HEADER_BYTES,
  type SafetensorsWarning,
} from "./safetensors-header.ts";
export {
  inspectSafetensors,
  type SafetensorsInspection,
  type SafetensorsLayoutOptions,
  type SafetensorsTensorLayout,
} from "./safetensors-inspect.ts";
export {
  type SafetensorsEntry,
  type SafetensorsLayout,
  safetensorsBytes,
  safetensorsLayout,
  type TensorData,
  type WriteSafetensorsOptions,
  writeSafetensors,
} from "./safetensors-write.ts";

const IS_LITTLE_ENDIAN_HOST: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---- Reading ----

/**
 * Options of {@link readSafetensors}: `name`, `maxHeaderBytes`, `lenient` (default false: strict),
 * `logger` (see {@link SafetensorsLayoutOptions}) and `chunkBytes`.
 */
export interface ReadSafetensorsOptions extends SafetensorsLayoutOptions {
  /**
   * Tensors larger than this are decoded by `readF32` in chunks of this many bytes (a multiple of 8;
   * default {@link DEFAULT_CHUNK_BYTES}), so converting never holds the raw and float copies at once.
   */
  readonly chunkBytes?: number;
}

/** A lazily-read safetensors file. */
export interface SafetensorsReader extends TensorReader {
  /** The `__metadata__` map of the header (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Byte offset of the data region in the file (8 + header length). */
  readonly dataOffset: number;
  /** Findings accepted in lenient mode (unused bytes, unknown entry fields); empty when strict. */
  readonly warnings: readonly SafetensorsWarning[];
  /** The messages of {@link SafetensorsReader.warnings}, one line each (kept for compatibility). */
  readonly diagnostics: readonly string[];
  /** Part of a tensor's stored bytes (see {@link TensorReader.readRawRange}): one read of the source. */
  readRawRange(name: string, offset: number, length: number): Promise<Uint8Array>;
  /** Absolute byte range `[begin, end)` of a tensor's data in the file. */
  byteRange(name: string): readonly [number, number];
  /**
   * Read a tensor's stored bytes into `target` (exactly `byteLength` bytes), e.g. a buffer reused
   * across layers. With a {@link ReadIntoByteSource} (Node files) this is one read with no copy.
   *
   * @throws RangeError when `target.byteLength` differs from the tensor's byte length.
   */
  readRawInto(name: string, target: Uint8Array): Promise<Uint8Array>;
  /**
   * Decode a tensor into `target` (exactly numel floats), e.g. a buffer reused across layers.
   *
   * @throws RangeError when `target.length` differs from the tensor's element count.
   */
  readF32Into(name: string, target: Float32Array): Promise<Float32Array>;
}

/**
 * A ByteSource that can also read straight into caller memory. Readers use `readInto` when present,
 * saving an allocation and a copy per tensor (`readSafetensorsFile` provides one).
 */
export interface ReadIntoByteSource extends ByteSource {
  /** Fill `target` with the bytes at `offset` (rejects with TENSOR_IO_MALFORMED past the end). */
  readInto(offset: number, target: Uint8Array): Promise<void>;
}

function hasReadInto(src: ByteSource): src is ReadIntoByteSource {
  return typeof (src as Partial<ReadIntoByteSource>).readInto === "function";
}

/**
 * Open a safetensors file lazily: reads the 8-byte length and the header, validates every entry
 * (JSON shape with no key twice at any depth, known dtype, non-negative integer shape, numel ×
 * dtype size = byte length, offsets inside the data region) and the layout (strict by default:
 * tensors tile the data region exactly, see {@link inspectSafetensors}; `lenient: true` accepts
 * unused bytes and unknown fields as `warnings`), then reads each tensor's bytes only when asked.
 *
 * @param source A ByteSource (e.g. `openFileSource(path)` from `@mama-prune/tensor-io/node`), bytes, or a Blob.
 * @throws PruneError TENSOR_IO_MALFORMED for any structural problem (message names the file, the
 *   tensor and the byte offsets).
 * @throws PruneError DTYPE_UNSUPPORTED for a dtype outside {@link DTYPES}.
 * @example
 * const st = await readSafetensors(bytes);
 * st.list().map((t) => t.name); // ["w"]
 * await st.readF32("w"); // Float32Array [...]
 */
export async function readSafetensors(
  source: ByteSource | Uint8Array | Blob,
  options: ReadSafetensorsOptions = {},
): Promise<SafetensorsReader> {
  checkSource("readSafetensors", source);
  const src = toByteSource(source, options.name);
  const chunkBytes = checkChunkBytes("readSafetensors", options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const { file, dataOffset, entries, metadata, warnings } = await openHeader(src, options, "readSafetensors");
  const diagnostics = warnings.map((w) => w.message);
  const byName = new Map<string, Entry>();
  for (const e of entries) byName.set(e.info.name, e);
  const infos: readonly TensorInfo[] = Object.freeze(entries.map((e) => e.info));
  let closed = false;

  const get = (name: string): Entry => {
    const e = byName.get(name);
    if (e === undefined) {
      throw new PruneError(
        "TENSOR_IO_NOT_FOUND",
        `${file}: tensor ${truncateForMessage(name)} not found. Expected one of ${entries.length} tensors (${truncateForMessage(entries.map((x) => x.info.name).join(", "), 120)}), got ${truncateForMessage(name)}.`,
      );
    }
    return e;
  };
  // Reads `length` bytes at `offset` inside tensor `e`; every failure names the file and tensor.
  const readRange = async (e: Entry, offset: number, length: number): Promise<Uint8Array> => {
    const where = `${file}: tensor ${quoteUntrusted(e.info.name)}`;
    if (closed) throw malformed(where, "read after close. Expected an open reader.");
    let bytes: Uint8Array;
    try {
      bytes = await src.read(e.begin + offset, length);
    } catch (err) {
      if (err instanceof PruneError)
        throw new PruneError(err.code, `${where}: ${err.message}`, { cause: err });
      throw new PruneError("TENSOR_IO_MALFORMED", `${where}: read failed (${String(err)})`, { cause: err });
    }
    if (bytes.byteLength !== length) {
      throw malformed(where, `short read. Expected ${length} bytes, got ${bytes.byteLength}.`);
    }
    return bytes;
  };
  const readRaw = (name: string): Promise<Uint8Array> => {
    let e: Entry;
    try {
      e = get(name);
    } catch (err) {
      return Promise.reject(err);
    }
    return readRange(e, 0, e.end - e.begin);
  };
  const direct = hasReadInto(src);
  // One chunk buffer kept by this reader for decoding from a readInto source: reused memory is
  // already mapped, so converting tensors does not pay page faults for a raw copy each time.
  // Concurrent reads each take their own (the spare is handed to one caller at a time).
  let spareScratch: Uint8Array | undefined;
  const takeScratch = (): Uint8Array => {
    const b = spareScratch ?? new Uint8Array(chunkBytes); // (chunkBytes,)
    spareScratch = undefined;
    return b;
  };
  // Fills `target` with the tensor bytes at `offset`: straight from the source when it can, else copied.
  const fillRange = async (e: Entry, offset: number, target: Uint8Array): Promise<void> => {
    if (!direct) {
      target.set(await readRange(e, offset, target.byteLength));
      return;
    }
    const where = `${file}: tensor ${quoteUntrusted(e.info.name)}`;
    if (closed) throw malformed(where, "read after close. Expected an open reader.");
    try {
      await src.readInto(e.begin + offset, target);
    } catch (err) {
      if (err instanceof PruneError)
        throw new PruneError(err.code, `${where}: ${err.message}`, { cause: err });
      throw new PruneError("TENSOR_IO_MALFORMED", `${where}: read failed (${String(err)})`, { cause: err });
    }
  };
  // Decodes tensor `e` into `out` (numel floats). F32 goes straight into out's bytes; other dtypes
  // are read chunk by chunk, so peak memory is the float32 result plus one chunk.
  const decodeInto = async (e: Entry, out: Float32Array): Promise<Float32Array> => {
    const where = `${file}: tensor ${quoteUntrusted(e.info.name)}`;
    const len = e.end - e.begin;
    if (e.info.dtype === "F32" && direct) {
      const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength); // (numel * 4,) view of out
      await fillRange(e, 0, bytes);
      if (!IS_LITTLE_ENDIAN_HOST) bytesToF32Into(bytes.slice(), "F32", out, where);
      return out;
    }
    const size = dtypeByteSize(e.info.dtype);
    const scratch = direct ? takeScratch() : undefined; // (chunkBytes,) warm after the first use
    try {
      for (let off = 0; off < len; off += chunkBytes) {
        const k = Math.min(chunkBytes, len - off);
        let bytes: Uint8Array;
        if (scratch !== undefined) {
          bytes = scratch.subarray(0, k);
          await fillRange(e, off, bytes);
        } else {
          bytes = await readRange(e, off, k);
        }
        bytesToF32Into(bytes, e.info.dtype, out.subarray(off / size, (off + k) / size), where);
      }
    } finally {
      if (scratch !== undefined) spareScratch = scratch;
    }
    return out;
  };
  return {
    source: file,
    metadata: Object.freeze(metadata),
    dataOffset,
    warnings: Object.freeze(warnings),
    diagnostics: Object.freeze(diagnostics),
    list: (): readonly TensorInfo[] => infos,
    has: (name: string): boolean => byName.has(name),
    info: (name: string): TensorInfo => get(name).info,
    byteRange(name: string): readonly [number, number] {
      const e = get(name);
      return [e.begin, e.end];
    },
    readRaw,
    async readRawRange(name: string, offset: number, length: number): Promise<Uint8Array> {
      const e = get(name);
      checkTensorRange(`${file}: tensor ${quoteUntrusted(name)}`, offset, length, e.end - e.begin);
      return readRange(e, offset, length);
    },
    async readF32(name: string): Promise<Float32Array> {
      const e = get(name);
      const len = e.end - e.begin;
      if (!direct && len <= chunkBytes) {
        return bytesToF32(
          await readRange(e, 0, len),
          e.info.dtype,
          `${file}: tensor ${quoteUntrusted(name)}`,
        );
      }
      return decodeInto(e, new Float32Array(len / dtypeByteSize(e.info.dtype)));
    },
    async readRawInto(name: string, target: Uint8Array): Promise<Uint8Array> {
      const e = get(name);
      const len = e.end - e.begin;
      if (!(target instanceof Uint8Array) || target.byteLength !== len) {
        throw new RangeError(
          `${file}: tensor ${quoteUntrusted(name)}: readRawInto target must be a Uint8Array of ${len} bytes, got ${target?.byteLength}`,
        );
      }
      await fillRange(e, 0, target);
      return target;
    },
    async readF32Into(name: string, target: Float32Array): Promise<Float32Array> {
      const e = get(name);
      const numel = (e.end - e.begin) / dtypeByteSize(e.info.dtype);
      if (!(target instanceof Float32Array) || target.length !== numel) {
        throw new RangeError(
          `${file}: tensor ${quoteUntrusted(name)}: readF32Into target must be a Float32Array of ${numel} values, got ${target?.length}`,
        );
      }
      return decodeInto(e, target);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      spareScratch = undefined;
      await src.close?.();
    },
  };
}
