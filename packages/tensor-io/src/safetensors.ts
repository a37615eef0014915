// safetensors: 8-byte little-endian header length N, N bytes of JSON header, then the data region.
// Reading is lazy: open reads only the length and the header, validates all of it before anything
// is allocated from untrusted sizes, and each tensor read pulls exactly its own byte range.
// Writing is streaming: the header is computed from (name, dtype, shape) alone, then tensor data is
// pulled one entry at a time, so memory stays at about one tensor.

import { type Logger, PruneError, SILENT_LOGGER, throwIfAborted, truncateForMessage } from "@mama-prune/core";
import { toByteSource } from "./byte-source.ts";
import {
  bytesToF32,
  bytesToF32Into,
  DTYPES,
  dtypeByteSize,
  f32ToBytes,
  f32ToBytesInto,
  isDType,
} from "./dtype.ts";
import {
  decodeHeaderJson,
  type Entry,
  isPlainObject,
  malformed,
  parseHeader,
  shapeNumel,
} from "./safetensors-header.ts";
import { type ByteSink, collectSink } from "./sink.ts";
import type { ByteSource, DType, TensorInfo, TensorReader } from "./types.ts";

/** Default cap on the JSON header size (the Rust reference implementation uses 100 MB). */
export const DEFAULT_MAX_HEADER_BYTES: number = 100 * 1024 * 1024;

/** Default chunk size for chunked decoding (readF32) and encoding (writer conversions): 8 MiB. */
export const DEFAULT_CHUNK_BYTES: number = 8 * 1024 * 1024;

function checkChunkBytes(where: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 8 || v % 8 !== 0) {
    throw new RangeError(`${where}: chunkBytes must be a positive multiple of 8, got ${v}`);
  }
  return v;
}

const IS_LITTLE_ENDIAN_HOST: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---- Reading ----

/** Options of {@link readSafetensors}. */
export interface ReadSafetensorsOptions {
  /** Name used in messages when the input is a Uint8Array or Blob (a ByteSource has its own). */
  readonly name?: string;
  /** Largest accepted JSON header in bytes (default {@link DEFAULT_MAX_HEADER_BYTES}). */
  readonly maxHeaderBytes?: number;
  /**
   * Tensors larger than this are decoded by `readF32` in chunks of this many bytes (a multiple of 8;
   * default {@link DEFAULT_CHUNK_BYTES}), so converting never holds the raw and float copies at once.
   */
  readonly chunkBytes?: number;
  /**
   * Reject files whose data region has gaps or trailing bytes not covered by any tensor, and tensor
   * entries with unknown fields (default false: accepted, reported in `diagnostics` and to `logger`).
   */
  readonly strict?: boolean;
  /** Receives warnings about gaps and unknown fields. */
  readonly logger?: Logger;
}

/** A lazily-read safetensors file. */
export interface SafetensorsReader extends TensorReader {
  /** The `__metadata__` map of the header (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Byte offset of the data region in the file (8 + header length). */
  readonly dataOffset: number;
  /** Non-fatal findings (gaps in the data region, unknown header fields). */
  readonly diagnostics: readonly string[];
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
 * (JSON shape, known dtype, non-negative integer shape, numel × dtype size = byte length, offsets
 * inside the data region, no overlaps), then reads each tensor's bytes only when asked.
 *
 * @param source A ByteSource (e.g. `openFileSource(path)` from `@mama-prune/tensor-io/node`), bytes, or a Blob.
 * @throws PruneError TENSOR_IO_MALFORMED for any structural problem (message names the file and tensor).
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
  if (
    typeof source !== "object" ||
    source === null ||
    (!(source instanceof Uint8Array) &&
      !(typeof Blob !== "undefined" && source instanceof Blob) &&
      typeof (source as Partial<ByteSource>).read !== "function")
  ) {
    throw new TypeError(
      `readSafetensors: source must be a ByteSource, Uint8Array or Blob, got ${Object.prototype.toString.call(source)}`,
    );
  }
  const src = toByteSource(source, options.name);
  const file = src.name;
  const maxHeader = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeader) || maxHeader < 2) {
    throw new RangeError(`readSafetensors: maxHeaderBytes must be an integer >= 2, got ${maxHeader}`);
  }
  const strict = options.strict ?? false;
  const chunkBytes = checkChunkBytes("readSafetensors", options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const log = options.logger ?? SILENT_LOGGER;
  const size = src.size;
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`readSafetensors: ${file}: source size must be a non-negative integer, got ${size}`);
  }
  if (size < 8) {
    throw malformed(file, `too small to be a safetensors file. Expected at least 8 bytes, got ${size}.`);
  }
  const readHeaderPart = async (offset: number, length: number, what: string): Promise<Uint8Array> => {
    try {
      return await src.read(offset, length);
    } catch (err) {
      if (err instanceof PruneError) throw err;
      throw new PruneError("TENSOR_IO_MALFORMED", `${file}: reading the ${what} failed (${String(err)})`, {
        cause: err,
      });
    }
  };
  const lenBytes = await readHeaderPart(0, 8, "header length");
  if (lenBytes.byteLength !== 8) {
    throw malformed(file, `short read of the header length. Expected 8 bytes, got ${lenBytes.byteLength}.`);
  }
  const headerLen64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen64 > BigInt(size - 8)) {
    throw malformed(
      file,
      `header length exceeds the file size. Expected at most ${size - 8} bytes, got ${headerLen64}.`,
    );
  }
  const headerLen = Number(headerLen64);
  if (headerLen > maxHeader) {
    throw malformed(file, `header is too large. Expected at most ${maxHeader} bytes, got ${headerLen}.`);
  }
  if (headerLen < 2) {
    throw malformed(
      file,
      `header is too short to hold a JSON object. Expected at least 2 bytes, got ${headerLen}.`,
    );
  }
  const headerBytes = await readHeaderPart(8, headerLen, "header");
  if (headerBytes.byteLength !== headerLen) {
    throw malformed(
      file,
      `short read of the header. Expected ${headerLen} bytes, got ${headerBytes.byteLength}.`,
    );
  }
  const json = decodeHeaderJson(headerBytes, file);
  const dataOffset = 8 + headerLen;
  const diagnostics: string[] = [];
  const { entries, metadata } = parseHeader(json, file, dataOffset, size - dataOffset, strict, diagnostics);
  for (const d of diagnostics) log.warn(d);
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
    const where = `${file}: tensor ${truncateForMessage(e.info.name)}`;
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
    const where = `${file}: tensor ${truncateForMessage(e.info.name)}`;
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
    const where = `${file}: tensor ${truncateForMessage(e.info.name)}`;
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
    diagnostics: Object.freeze(diagnostics),
    list: (): readonly TensorInfo[] => infos,
    has: (name: string): boolean => byName.has(name),
    info: (name: string): TensorInfo => get(name).info,
    byteRange(name: string): readonly [number, number] {
      const e = get(name);
      return [e.begin, e.end];
    },
    readRaw,
    async readF32(name: string): Promise<Float32Array> {
      const e = get(name);
      const len = e.end - e.begin;
      if (!direct && len <= chunkBytes) {
        return bytesToF32(
          await readRange(e, 0, len),
          e.info.dtype,
          `${file}: tensor ${truncateForMessage(name)}`,
        );
      }
      return decodeInto(e, new Float32Array(len / dtypeByteSize(e.info.dtype)));
    },
    async readRawInto(name: string, target: Uint8Array): Promise<Uint8Array> {
      const e = get(name);
      const len = e.end - e.begin;
      if (!(target instanceof Uint8Array) || target.byteLength !== len) {
        throw new RangeError(
          `${file}: tensor ${truncateForMessage(name)}: readRawInto target must be a Uint8Array of ${len} bytes, got ${target?.byteLength}`,
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
          `${file}: tensor ${truncateForMessage(name)}: readF32Into target must be a Float32Array of ${numel} values, got ${target?.length}`,
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

// ---- Writing ----

/** Tensor data accepted by the writer: float32 values (converted to the entry's dtype) or raw bytes. */
export type TensorData = Float32Array | Uint8Array;

/** One tensor to write. `data` may be a function, called only when that tensor's turn comes. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /**
   * A Float32Array of numel values (converted to `dtype`), or a Uint8Array of exactly
   * numel × dtype size little-endian bytes, or a function returning either (lazy; called once).
   */
  readonly data: TensorData | (() => TensorData | Promise<TensorData>);
}

/** Options of {@link writeSafetensors}. */
export interface WriteSafetensorsOptions {
  /** The `__metadata__` map (string → string). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Checked before each tensor; an abort aborts the sink. */
  readonly signal?: AbortSignal;
  /**
   * Float32 data converted to F16/BF16/F64 is encoded and written in chunks of this many bytes
   * through one reused scratch buffer (a multiple of 8; default {@link DEFAULT_CHUNK_BYTES}).
   */
  readonly chunkBytes?: number;
}

/** The planned layout of a safetensors file, before any data is written. */
export interface SafetensorsLayout {
  /** 8-byte length + JSON header padded with spaces to a multiple of 8. */
  readonly header: Uint8Array;
  /** Per entry (same order as given), the `[begin, end)` offsets relative to the data region. */
  readonly dataOffsets: readonly (readonly [number, number])[];
  /** Total file size in bytes. */
  readonly totalBytes: number;
}

function validateMetadata(metadata: Readonly<Record<string, string>> | undefined): void {
  if (metadata === undefined) return;
  if (!isPlainObject(metadata)) throw new TypeError("safetensors metadata must be an object of strings");
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new TypeError(
        `safetensors metadata: value of ${truncateForMessage(k)} must be a string, got ${typeof v}`,
      );
    }
  }
}

/**
 * Compute the header bytes and data offsets of a safetensors file from (name, dtype, shape) only.
 * Tensors are laid out contiguously in the given order.
 *
 * @throws TypeError / RangeError for invalid entries (non-string name, `__metadata__` as a name, duplicate names, bad shapes).
 * @throws PruneError DTYPE_UNSUPPORTED for an unknown dtype.
 * @example
 * safetensorsLayout([{ name: "w", dtype: "F32", shape: [2], data: new Float32Array(2) }]).totalBytes; // 8 + 56 + 8 = 72
 */
export function safetensorsLayout(
  entries: readonly Pick<SafetensorsEntry, "name" | "dtype" | "shape">[],
  metadata?: Readonly<Record<string, string>>,
): SafetensorsLayout {
  if (!Array.isArray(entries)) throw new TypeError("safetensorsLayout: entries must be an array");
  validateMetadata(metadata);
  // Pairs + Object.fromEntries: a tensor or metadata key named "__proto__" stays an own key.
  const header: [string, unknown][] = [];
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    header.push(["__metadata__", Object.fromEntries(Object.entries(metadata))]);
  }
  const seen = new Set<string>();
  const dataOffsets: (readonly [number, number])[] = [];
  let at = 0;
  for (const e of entries) {
    if (typeof e !== "object" || e === null)
      throw new TypeError("safetensorsLayout: each entry must be an object");
    const { name, dtype, shape } = e;
    if (typeof name !== "string")
      throw new TypeError(`safetensorsLayout: tensor name must be a string, got ${typeof name}`);
    if (name === "__metadata__")
      throw new RangeError(`safetensorsLayout: "__metadata__" is reserved and cannot name a tensor`);
    if (seen.has(name))
      throw new RangeError(`safetensorsLayout: duplicate tensor name ${truncateForMessage(name)}`);
    seen.add(name);
    if (!isDType(dtype)) {
      throw new PruneError(
        "DTYPE_UNSUPPORTED",
        `safetensorsLayout: tensor ${truncateForMessage(name)} has dtype ${truncateForMessage(dtype)}. Expected one of ${DTYPES.join(", ")}, got ${truncateForMessage(dtype)}.`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new RangeError(
        `safetensorsLayout: tensor ${truncateForMessage(name)}: shape must be non-negative integers, got ${truncateForMessage(shape)}`,
      );
    }
    const bytes = shapeNumel(shape) * dtypeByteSize(dtype);
    if (!Number.isSafeInteger(at + bytes)) {
      throw new RangeError(
        `safetensorsLayout: tensor ${truncateForMessage(name)}: file would exceed 2^53 bytes`,
      );
    }
    header.push([name, { dtype, shape: [...shape], data_offsets: [at, at + bytes] }]);
    dataOffsets.push([at, at + bytes]);
    at += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(Object.fromEntries(header)));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20); // (8 + padded,)
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return { header: out, dataOffsets, totalBytes: 8 + padded + at };
}

// The bytes to write for one entry, or undefined when the writer should convert it in chunks.
function entryBytes(
  e: SafetensorsEntry,
  data: unknown,
  where: string,
  chunkBytes: number,
): Uint8Array | undefined {
  const numel = shapeNumel(e.shape);
  const size = dtypeByteSize(e.dtype);
  if (data instanceof Float32Array) {
    if (data.length !== numel) {
      throw new PruneError(
        "SHAPE_MISMATCH",
        `${where}: Float32Array length does not match shape ${JSON.stringify(e.shape)}. Expected ${numel} values, got ${data.length}.`,
      );
    }
    if (e.dtype === "F32") return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const chunked = e.dtype === "F16" || e.dtype === "BF16" || e.dtype === "F64";
    // Integer dtypes convert whole, so a range error reports the tensor-wide index before any write.
    if (chunked && numel * size > chunkBytes) return undefined;
    return f32ToBytes(data, e.dtype, where);
  }
  if (data instanceof Uint8Array) {
    if (data.byteLength !== numel * size) {
      throw new PruneError(
        "SHAPE_MISMATCH",
        `${where}: raw byte length does not match ${e.dtype} ${JSON.stringify(e.shape)}. Expected ${numel * size} bytes, got ${data.byteLength}.`,
      );
    }
    return data;
  }
  throw new TypeError(
    `${where}: data must be a Float32Array or Uint8Array (or a function returning one), got ${Object.prototype.toString.call(data)}`,
  );
}

/**
 * Stream a safetensors file into `sink`: the header first (computed from names, dtypes and shapes),
 * then each tensor's data in order, pulling lazy `data` functions one at a time. Closes the sink on
 * success; on any failure aborts the sink (a file sink deletes its temporary file) and rethrows.
 *
 * @returns The total number of bytes written.
 * @throws PruneError SHAPE_MISMATCH when data length does not match the shape; DTYPE_OUT_OF_RANGE when
 *   float32 values do not fit an integer dtype; DTYPE_UNSUPPORTED; ABORTED; TENSOR_IO_WRITE_FAILED from the sink.
 * @throws TypeError / RangeError for invalid entries (see {@link safetensorsLayout}).
 * @example
 * const sink = collectSink();
 * await writeSafetensors(sink, [{ name: "w", dtype: "BF16", shape: [2], data: new Float32Array([1, 2]) }]);
 * (await readSafetensors(sink.bytes())).info("w").shape; // [2]
 */
export async function writeSafetensors(
  sink: ByteSink,
  entries: readonly SafetensorsEntry[],
  options: WriteSafetensorsOptions = {},
): Promise<number> {
  let scratch: Uint8Array | undefined;
  try {
    const chunkBytes = checkChunkBytes("writeSafetensors", options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
    const layout = safetensorsLayout(entries, options.metadata);
    throwIfAborted(options.signal, "writeSafetensors");
    const put = async (chunk: Uint8Array): Promise<void> => {
      try {
        await sink.write(chunk);
      } catch (err) {
        if (err instanceof PruneError) throw err;
        throw new PruneError(
          "TENSOR_IO_WRITE_FAILED",
          `writeSafetensors: sink write failed (${String(err)})`,
          {
            cause: err,
          },
        );
      }
    };
    await put(layout.header);
    let written = layout.header.byteLength;
    // One tensor per call: when writeOne returns, its frame (and the tensor it pulled) is gone. Kept
    // inline in the loop, a suspended async frame can hold the previous tensor until the next one is
    // assigned, doubling peak memory.
    const writeOne = async (e: SafetensorsEntry): Promise<number> => {
      const where = `writeSafetensors: tensor ${truncateForMessage(e.name)}`;
      throwIfAborted(options.signal, where);
      const data = typeof e.data === "function" ? await e.data() : e.data;
      const bytes = entryBytes(e, data, where, chunkBytes);
      if (bytes !== undefined) {
        if (bytes.byteLength > 0) await put(bytes);
        return bytes.byteLength;
      }
      // A large float tensor to convert: encode chunk by chunk through one reused scratch buffer,
      // so conversion never holds a second full-size copy (the sink has consumed a chunk once its
      // write resolves, per the ByteSink contract).
      const values = data as Float32Array;
      const size = dtypeByteSize(e.dtype);
      const perChunk = chunkBytes / size;
      scratch ??= new Uint8Array(chunkBytes); // (chunkBytes,)
      let n = 0;
      for (let i = 0; i < values.length; i += perChunk) {
        const k = Math.min(perChunk, values.length - i);
        const out = f32ToBytesInto(values.subarray(i, i + k), e.dtype, scratch.subarray(0, k * size), where);
        await put(out);
        n += out.byteLength;
      }
      return n;
    };
    for (const e of entries) written += await writeOne(e);
    if (written !== layout.totalBytes) {
      throw new PruneError(
        "TENSOR_IO_WRITE_FAILED",
        `writeSafetensors: entries changed while writing. Expected ${layout.totalBytes} bytes, got ${written}.`,
      );
    }
    try {
      await sink.close();
    } catch (err) {
      if (err instanceof PruneError) throw err;
      throw new PruneError("TENSOR_IO_WRITE_FAILED", `writeSafetensors: sink close failed (${String(err)})`, {
        cause: err,
      });
    }
    return written;
  } catch (e) {
    await sink.abort(e).catch(() => undefined);
    throw e;
  }
}

/**
 * Write a safetensors file to memory and return its bytes (convenience over {@link writeSafetensors}).
 *
 * @throws Same as {@link writeSafetensors}.
 * @example
 * const bytes = await safetensorsBytes([{ name: "b", dtype: "I32", shape: [1], data: new Float32Array([7]) }]);
 */
export async function safetensorsBytes(
  entries: readonly SafetensorsEntry[],
  options: WriteSafetensorsOptions = {},
): Promise<Uint8Array> {
  const sink = collectSink();
  await writeSafetensors(sink, entries, options);
  return sink.bytes();
}
