// safetensors header parsing and validation, shared by the random-access reader (safetensors.ts)
// and the one-pass stream reader (safetensors-stream.ts). Internal: not exported from the index.

import { PruneError, quoteUntrusted, truncateForMessage } from "@mama-prune/core";
import { DTYPES, dtypeByteSize, isDType } from "./dtype.ts";
import { findDuplicateKey } from "./json-keys.ts";
import type { TensorInfo } from "./types.ts";

/** Default cap on the JSON header size (the Rust reference implementation uses 100 MB). */
export const DEFAULT_MAX_HEADER_BYTES: number = 100 * 1024 * 1024;

/** Default chunk size for chunked decoding (readF32) and encoding (writer conversions): 8 MiB. */
export const DEFAULT_CHUNK_BYTES: number = 8 * 1024 * 1024;

/** Validate a `chunkBytes` option (a positive multiple of 8). Internal. */
export function checkChunkBytes(where: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 8 || v % 8 !== 0) {
    throw new RangeError(`${where}: chunkBytes must be a positive multiple of 8, got ${v}`);
  }
  return v;
}

/** safetensors dtypes that exist in the format but that this package does not convert. */
const KNOWN_UNSUPPORTED = new Set([
  "F8_E4M3",
  "F8_E5M2",
  "F8_E8M0",
  "F6_E2M3",
  "F6_E3M2",
  "F4",
  "C64",
  "C128",
]);

/**
 * A finding that {@link readSafetensors} with `lenient: true` accepts: unused bytes before the first
 * tensor, between tensors or after the last one, or an unknown field in a tensor entry. Without
 * `lenient` each of these is a TENSOR_IO_MALFORMED error instead.
 */
export interface SafetensorsWarning {
  /** What was found. */
  readonly kind: "leading-bytes" | "gap" | "trailing-bytes" | "unknown-field";
  /** One line naming the file, the tensor and the byte offsets (untrusted names quoted). */
  readonly message: string;
  /** The tensor concerned (the one after a gap, before trailing bytes, or with the unknown field). */
  readonly tensor?: string;
  /** Absolute file offsets `[begin, end)` of the unused bytes (layout findings only). */
  readonly bytes?: readonly [number, number];
}

/** A validated header entry with absolute byte offsets. Internal (shared with the stream reader). */
export interface Entry {
  readonly info: TensorInfo;
  readonly begin: number; // absolute file offset
  readonly end: number;
}

/** A TENSOR_IO_MALFORMED error with the `<where>: <what>` message pattern. */
export function malformed(where: string, what: string): PruneError {
  return new PruneError("TENSOR_IO_MALFORMED", `${where}: ${what}`);
}

/** True for a non-null, non-array object. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Product of the dims (1 for a scalar). */
export function shapeNumel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Where a layout problem is: `<file>: tensor "<name>" (data_offsets [b, e], file bytes [B, E))`. */
function entryWhere(src: string, e: Entry, dataOffset: number): string {
  return `${src}: tensor ${quoteUntrusted(e.info.name)} (data_offsets [${e.begin - dataOffset}, ${e.end - dataOffset}], file bytes [${e.begin}, ${e.end}))`;
}

/**
 * Parse and validate a safetensors header (the JSON object) against a data region of `dataSize`
 * bytes starting at absolute offset `dataOffset`: every entry, then the layout (see
 * {@link checkLayout}). Findings that `lenient` accepts are appended to `warnings`. Internal:
 * shared with the stream reader (which passes `dataSizeKnown = false` when the stream length is
 * unknown); not exported from the index.
 */
export function parseHeader(
  json: unknown,
  src: string,
  dataOffset: number,
  dataSize: number,
  lenient: boolean,
  warnings: SafetensorsWarning[],
  dataSizeKnown = true,
): { entries: Entry[]; metadata: Record<string, string> } {
  if (!isPlainObject(json)) {
    throw malformed(
      src,
      `header is not a JSON object. Expected {"<tensor>": {dtype, shape, data_offsets}, ...}, got ${Array.isArray(json) ? "an array" : truncateForMessage(json)}.`,
    );
  }
  // Filled with defineProperty-like semantics (Object.fromEntries) so a "__proto__" key stays a plain key.
  const metaPairs: [string, string][] = [];
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === "__metadata__") {
      if (!isPlainObject(value)) {
        throw malformed(
          src,
          `__metadata__ is not an object. Expected an object of string values, got ${truncateForMessage(value)}.`,
        );
      }
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== "string") {
          throw malformed(
            src,
            `__metadata__ value of ${quoteUntrusted(k)} is not a string. Expected a string, got ${truncateForMessage(v)}.`,
          );
        }
        metaPairs.push([k, v]);
      }
      continue;
    }
    entries.push(parseEntry(name, value, src, dataOffset, dataSize, lenient, warnings));
  }
  checkLayout(entries, src, dataOffset, dataSize, lenient, warnings, dataSizeKnown);
  return { entries, metadata: Object.fromEntries(metaPairs) };
}

// One tensor entry: object shape, known dtype, shape, offsets inside the data region, size match.
function parseEntry(
  name: string,
  value: unknown,
  src: string,
  dataOffset: number,
  dataSize: number,
  lenient: boolean,
  warnings: SafetensorsWarning[],
): Entry {
  const where = `${src}: tensor ${quoteUntrusted(name)}`;
  if (!isPlainObject(value)) {
    throw malformed(
      where,
      `entry is not an object. Expected {dtype, shape, data_offsets}, got ${truncateForMessage(value)}.`,
    );
  }
  for (const k of Object.keys(value)) {
    if (k !== "dtype" && k !== "shape" && k !== "data_offsets") {
      if (!lenient) {
        throw malformed(
          where,
          `unknown field ${quoteUntrusted(k)}. Expected only dtype, shape, data_offsets (lenient mode accepts other fields with a warning), got ${quoteUntrusted(k)}.`,
        );
      }
      warnings.push({
        kind: "unknown-field",
        message: `${where}: unknown field ${quoteUntrusted(k)} ignored`,
        tensor: name,
      });
    }
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== "string") {
    throw malformed(
      where,
      `dtype is not a string. Expected one of ${DTYPES.join(", ")}, got ${truncateForMessage(dtype)}.`,
    );
  }
  if (!isDType(dtype)) {
    throw new PruneError(
      "DTYPE_UNSUPPORTED",
      `${where}: dtype ${quoteUntrusted(dtype)} is ${KNOWN_UNSUPPORTED.has(dtype) ? "not supported by this reader" : "unknown"}. Expected one of ${DTYPES.join(", ")}, got ${quoteUntrusted(dtype)}.`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw malformed(
      where,
      `shape is not a list of non-negative integers. Expected e.g. [4096, 4096], got ${truncateForMessage(shape)}.`,
    );
  }
  const dims = shape as number[];
  const numel = shapeNumel(dims);
  const size = dtypeByteSize(dtype);
  if (!Number.isSafeInteger(numel * size)) {
    throw malformed(
      where,
      `shape ${truncateForMessage(dims)} is too large. Expected at most 2^53 bytes, got ${numel * size}.`,
    );
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
  ) {
    throw malformed(
      where,
      `data_offsets is not a pair of non-negative integers. Expected [begin, end], got ${truncateForMessage(offsets)}.`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) {
    throw malformed(where, `data_offsets end precedes begin. Expected begin <= end, got [${begin}, ${end}].`);
  }
  if (end > dataSize) {
    throw malformed(
      where,
      `data_offsets run past the end of the data region. Expected end <= ${dataSize} (file size ${dataOffset + dataSize}), got [${begin}, ${end}] (file bytes [${dataOffset + begin}, ${dataOffset + end})).`,
    );
  }
  const byteLength = numel * size;
  if (end - begin !== byteLength) {
    throw malformed(
      where,
      `data length does not match shape × dtype size. Expected ${byteLength} bytes (${numel} × ${size}, ${dtype} ${JSON.stringify(dims)}), got ${end - begin} (data_offsets [${begin}, ${end}]).`,
    );
  }
  return {
    info: { name, dtype, shape: Object.freeze(dims.slice()), byteLength },
    begin: dataOffset + begin,
    end: dataOffset + end,
  };
}

/**
 * Sort `entries` into storage order (data offset; ties keep header order) and check that they tile
 * the data region: no two tensors share a byte and no empty tensor sits inside another (always an
 * error: the data would be ambiguous), the first begins at data offset 0, each begins where the
 * previous one ends, and the last ends at the end of the data region (when `dataSizeKnown`).
 * Unused bytes are an error naming the file, the tensors and the byte offsets, or with `lenient` a
 * warning appended to `warnings`. Internal.
 */
export function checkLayout(
  entries: Entry[],
  src: string,
  dataOffset: number,
  dataSize: number,
  lenient: boolean,
  warnings: SafetensorsWarning[],
  dataSizeKnown = true,
): void {
  // Array.prototype.sort is stable, so ties keep header order.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const unused = (
    kind: SafetensorsWarning["kind"],
    tensor: Entry | undefined,
    from: number,
    to: number,
    what: string,
    expected: string,
  ): void => {
    const where = tensor !== undefined ? entryWhere(src, tensor, dataOffset) : src;
    if (!lenient) {
      throw malformed(
        where,
        `${what}. Expected ${expected} (lenient mode accepts this with a warning), got ${to - from} unused bytes at file bytes [${from}, ${to}).`,
      );
    }
    warnings.push({
      kind,
      message: `${where}: ${what}: ${to - from} unused bytes at file bytes [${from}, ${to})`,
      ...(tensor !== undefined ? { tensor: tensor.info.name } : {}),
      bytes: [from, to],
    });
  };
  let covered = dataOffset;
  let prev: Entry | undefined;
  for (const e of entries) {
    if (e.begin < covered) {
      // Sorted by begin, so prev has the largest end so far: it is the tensor e runs into.
      throw malformed(
        entryWhere(src, e, dataOffset),
        `data ${e.end === e.begin ? "sits inside" : "overlaps"} tensor ${quoteUntrusted(prev?.info.name ?? "?")} (data_offsets [${(prev?.begin ?? dataOffset) - dataOffset}, ${covered - dataOffset}]). Expected begin >= ${covered - dataOffset}, got ${e.begin - dataOffset}.`,
      );
    }
    if (e.begin > covered) {
      if (prev === undefined) {
        unused(
          "leading-bytes",
          e,
          covered,
          e.begin,
          "the data region does not start with the first tensor",
          "the first tensor at data offset 0",
        );
      } else {
        unused(
          "gap",
          e,
          covered,
          e.begin,
          `gap after tensor ${quoteUntrusted(prev.info.name)}`,
          `the tensor to begin where the previous one ends (data offset ${covered - dataOffset})`,
        );
      }
    }
    covered = e.end;
    prev = e;
  }
  if (dataSizeKnown && covered < dataOffset + dataSize) {
    unused(
      "trailing-bytes",
      prev,
      covered,
      dataOffset + dataSize,
      prev !== undefined ? "trailing bytes after the last tensor" : "data bytes but no tensors",
      "the file to end with the last tensor",
    );
  }
}

/** Convert a UTF-16 offset in `text` into a UTF-8 byte offset. */
function utf8Offset(text: string, offset: number): number {
  return new TextEncoder().encode(text.slice(0, offset)).byteLength;
}

/**
 * Decode the JSON header bytes (must start with '{', valid UTF-8, valid JSON, no key twice in one
 * object at any depth). `headerOffset` is the file offset of the header (8), for messages.
 * Internal: shared by the random-access and the streaming reader.
 */
export function decodeHeaderJson(headerBytes: Uint8Array, file: string, headerOffset = 8): unknown {
  if (headerBytes[0] !== 0x7b) {
    throw malformed(
      file,
      `header does not start with '{'. Expected a JSON object at file byte ${headerOffset}, got byte 0x${headerBytes[0]!.toString(16)}.`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch (e) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${file}: header is not valid UTF-8. Expected UTF-8 JSON in file bytes [${headerOffset}, ${headerOffset + headerBytes.byteLength}), got invalid bytes.`,
      { cause: e },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    // RangeError (too deep nesting) lands here too: still a malformed file.
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${file}: header is not valid JSON (${truncateForMessage(e instanceof Error ? e.message : String(e), 120)}). Expected a JSON object, got ${truncateForMessage(text, 60)}.`,
      { cause: e },
    );
  }
  const dup = findDuplicateKey(text);
  if (dup !== undefined) {
    const at = `file byte ${headerOffset + utf8Offset(text, dup.offset)}`;
    const [top, ...rest] = dup.path;
    let what: string;
    if (top === undefined) {
      what = dup.key === "__metadata__" ? "__metadata__" : `tensor ${quoteUntrusted(dup.key)}`;
    } else if (rest.length === 0) {
      what =
        top === "__metadata__"
          ? `__metadata__ key ${quoteUntrusted(dup.key)}`
          : `tensor ${quoteUntrusted(top)}: field ${quoteUntrusted(dup.key)}`;
    } else {
      what = `key ${quoteUntrusted(dup.key)} inside ${quoteUntrusted(dup.path.join("."))}`;
    }
    throw malformed(
      file,
      `${what} appears twice in the header (second at ${at}). Expected unique keys at every level, got a duplicate (JSON.parse would silently keep the last).`,
    );
  }
  return json;
}
