// safetensors writing is streaming: the header is computed from (name, dtype, shape) alone, then
// tensor data is pulled one entry at a time, so memory stays at about one tensor.

import { PruneError, throwIfAborted, truncateForMessage } from "@mama-prune/core";
import { DTYPES, dtypeByteSize, f32ToBytes, f32ToBytesInto, isDType } from "./dtype.ts";
import { checkChunkBytes, DEFAULT_CHUNK_BYTES, isPlainObject, shapeNumel } from "./safetensors-header.ts";
import { type ByteSink, collectSink } from "./sink.ts";
import type { DType } from "./types.ts";

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
