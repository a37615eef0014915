// Opening a safetensors file up to (not including) its data: the 8-byte length, the JSON header and
// the whole layout, validated without reading a byte of tensor data. Shared by readSafetensors and
// inspectSafetensors (which validates any safetensors file, model or not).

import { type Logger, PruneError, SILENT_LOGGER } from "@mama-prune/core";
import { toByteSource } from "./byte-source.ts";
import {
  DEFAULT_MAX_HEADER_BYTES,
  decodeHeaderJson,
  type Entry,
  malformed,
  parseHeader,
  type SafetensorsWarning,
} from "./safetensors-header.ts";
import type { ByteSource, DType } from "./types.ts";

/** Options shared by the safetensors readers: header cap and strictness. */
export interface SafetensorsLayoutOptions {
  /** Name used in messages when the input is a Uint8Array or Blob (a ByteSource has its own). */
  readonly name?: string;
  /** Largest accepted JSON header in bytes (default {@link DEFAULT_MAX_HEADER_BYTES}). */
  readonly maxHeaderBytes?: number;
  /**
   * Accept unused bytes before the first tensor, between tensors or after the last one, and unknown
   * fields in tensor entries, each reported as a warning (in `warnings` and to `logger`). Default
   * false: each is a TENSOR_IO_MALFORMED error. Never accepted, even here: overlapping tensors,
   * offsets outside the file, a key twice in one object at any depth, non-string metadata.
   */
  readonly lenient?: boolean;
  /**
   * @deprecated Strict is the default now; `strict: false` is the same as `lenient: true`. Ignored
   * when `lenient` is given.
   */
  readonly strict?: boolean;
  /** Receives one `warn` per warning (lenient mode). */
  readonly logger?: Logger;
}

/** Resolve `lenient` (and the deprecated `strict: false`). Internal. */
export function isLenient(options: { readonly lenient?: boolean; readonly strict?: boolean }): boolean {
  return options.lenient ?? options.strict === false;
}

/** Refuse a source that is not a ByteSource, Uint8Array or Blob (a programmer error). Internal. */
export function checkSource(fn: string, source: unknown): void {
  if (
    typeof source !== "object" ||
    source === null ||
    (!(source instanceof Uint8Array) &&
      !(typeof Blob !== "undefined" && source instanceof Blob) &&
      typeof (source as Partial<ByteSource>).read !== "function")
  ) {
    throw new TypeError(
      `${fn}: source must be a ByteSource, Uint8Array or Blob, got ${Object.prototype.toString.call(source)}`,
    );
  }
}

/** The validated front of a safetensors file. Internal (readSafetensors builds on it). */
export interface OpenedHeader {
  readonly file: string;
  readonly size: number;
  readonly headerBytes: number;
  readonly dataOffset: number;
  readonly json: Readonly<Record<string, unknown>>;
  readonly entries: Entry[];
  readonly metadata: Record<string, string>;
  readonly warnings: SafetensorsWarning[];
}

/**
 * Read and validate the length, the header and the layout of `src` (no tensor data is read); every
 * warning also goes to `logger`. Internal.
 */
export async function openHeader(
  src: ByteSource,
  options: SafetensorsLayoutOptions,
  fn: string,
): Promise<OpenedHeader> {
  const file = src.name;
  const maxHeader = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeader) || maxHeader < 2) {
    throw new RangeError(`${fn}: maxHeaderBytes must be an integer >= 2, got ${maxHeader}`);
  }
  const size = src.size;
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`${fn}: ${file}: source size must be a non-negative integer, got ${size}`);
  }
  if (size < 8) {
    throw malformed(file, `too small to be a safetensors file. Expected at least 8 bytes, got ${size}.`);
  }
  const readPart = async (offset: number, length: number, what: string): Promise<Uint8Array> => {
    let bytes: Uint8Array;
    try {
      bytes = await src.read(offset, length);
    } catch (err) {
      if (err instanceof PruneError) throw err;
      throw new PruneError("TENSOR_IO_MALFORMED", `${file}: reading the ${what} failed (${String(err)})`, {
        cause: err,
      });
    }
    if (bytes.byteLength !== length) {
      throw malformed(
        file,
        `short read of the ${what}. Expected ${length} bytes at file byte ${offset}, got ${bytes.byteLength}.`,
      );
    }
    return bytes;
  };
  const lenBytes = await readPart(0, 8, "header length");
  const headerLen64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen64 > BigInt(size - 8)) {
    throw malformed(
      file,
      `header length exceeds the file size. Expected at most ${size - 8} bytes after the 8-byte length, got ${headerLen64}.`,
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
  const json = decodeHeaderJson(await readPart(8, headerLen, "header"), file) as Record<string, unknown>;
  const dataOffset = 8 + headerLen;
  const warnings: SafetensorsWarning[] = [];
  const { entries, metadata } = parseHeader(
    json,
    file,
    dataOffset,
    size - dataOffset,
    isLenient(options),
    warnings,
  );
  const log = options.logger ?? SILENT_LOGGER;
  for (const w of warnings) log.warn(w.message, { kind: w.kind });
  return { file, size, headerBytes: headerLen, dataOffset, json, entries, metadata, warnings };
}

/** One tensor of an inspected file. */
export interface SafetensorsTensorLayout {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** `data_offsets` as stored: `[begin, end)` relative to the data region. */
  readonly offsets: readonly [number, number];
  /** The same range as absolute file offsets. */
  readonly fileOffsets: readonly [number, number];
  /** Byte length (numel × dtype size). */
  readonly bytes: number;
}

/** What {@link inspectSafetensors} found in a valid file. */
export interface SafetensorsInspection {
  /** The name used in messages. */
  readonly source: string;
  /** File size in bytes. */
  readonly fileBytes: number;
  /** Length of the JSON header in bytes (including padding). */
  readonly headerBytes: number;
  /** File offset of the data region (8 + header length). */
  readonly dataOffset: number;
  /** The parsed header object (tensor entries and `__metadata__`), as stored. */
  readonly header: Readonly<Record<string, unknown>>;
  /** The `__metadata__` map (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors in storage (data offset) order. */
  readonly tensors: readonly SafetensorsTensorLayout[];
  /** Findings accepted in lenient mode (always empty otherwise: they are errors). */
  readonly warnings: readonly SafetensorsWarning[];
}

/**
 * Validate the whole layout of any safetensors file, model or not, without reading tensor data:
 * header length, UTF-8 JSON with no key twice in one object at any depth, every entry (known dtype,
 * shape, `data_offsets` consistent with shape × dtype size), `__metadata__` string → string, and
 * tensors tiling the data region exactly (first at offset 0, no gaps, no overlaps, last ending at
 * the end of the file; `lenient` turns unused bytes and unknown fields into warnings). Reads only
 * the first 8 bytes and the header. Does not close a ByteSource it is given.
 *
 * @throws PruneError TENSOR_IO_MALFORMED naming the file, the tensor and the byte offsets;
 *   DTYPE_UNSUPPORTED for a dtype this package does not know.
 * @example
 * const info = await inspectSafetensors(bytes);
 * info.tensors.map((t) => `${t.name} ${t.dtype} [${t.shape}] @${t.offsets[0]}`); // ["w F32 [2] @0"]
 */
export async function inspectSafetensors(
  source: ByteSource | Uint8Array | Blob,
  options: SafetensorsLayoutOptions = {},
): Promise<SafetensorsInspection> {
  checkSource("inspectSafetensors", source);
  const src = toByteSource(source, options.name);
  const h = await openHeader(src, options, "inspectSafetensors");
  const tensors = h.entries.map(
    (e): SafetensorsTensorLayout => ({
      name: e.info.name,
      dtype: e.info.dtype,
      shape: e.info.shape,
      offsets: [e.begin - h.dataOffset, e.end - h.dataOffset],
      fileOffsets: [e.begin, e.end],
      bytes: e.info.byteLength,
    }),
  );
  return {
    source: h.file,
    fileBytes: h.size,
    headerBytes: h.headerBytes,
    dataOffset: h.dataOffset,
    header: h.json,
    metadata: Object.freeze(h.metadata),
    tensors: Object.freeze(tensors),
    warnings: Object.freeze(h.warnings),
  };
}
