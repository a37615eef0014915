// safetensors header parsing and validation, shared by the random-access reader (safetensors.ts)
// and the one-pass stream reader (safetensors-stream.ts). Internal: not exported from the index.

import { PruneError, truncateForMessage } from "@mama-prune/core";
import { DTYPES, dtypeByteSize, isDType } from "./dtype.ts";
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

/**
 * Parse and validate a safetensors header (the JSON object) against a data region of `dataSize`
 * bytes starting at absolute offset `dataOffset`. Internal: shared with the stream reader (which
 * passes `dataSizeKnown = false` when the stream length is unknown); not exported from the index.
 */
export function parseHeader(
  json: unknown,
  src: string,
  dataOffset: number,
  dataSize: number,
  strict: boolean,
  diagnostics: string[],
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
    const where = `${src}: tensor ${truncateForMessage(name)}`;
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
            `__metadata__ value of ${truncateForMessage(k)} is not a string. Expected a string, got ${truncateForMessage(v)}.`,
          );
        }
        metaPairs.push([k, v]);
      }
      continue;
    }
    if (!isPlainObject(value)) {
      throw malformed(
        where,
        `entry is not an object. Expected {dtype, shape, data_offsets}, got ${truncateForMessage(value)}.`,
      );
    }
    for (const k of Object.keys(value)) {
      if (k !== "dtype" && k !== "shape" && k !== "data_offsets") {
        const msg = `${where}: unknown field ${truncateForMessage(k)}`;
        if (strict)
          throw malformed(
            where,
            `unknown field ${truncateForMessage(k)}. Expected only dtype, shape, data_offsets.`,
          );
        diagnostics.push(msg);
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
        `${where}: dtype ${truncateForMessage(dtype)} is ${KNOWN_UNSUPPORTED.has(dtype) ? "not supported by this reader" : "unknown"}. Expected one of ${DTYPES.join(", ")}, got ${truncateForMessage(dtype)}.`,
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
    if (end < begin)
      throw malformed(
        where,
        `data_offsets end precedes begin. Expected begin <= end, got [${begin}, ${end}].`,
      );
    if (end > dataSize) {
      throw malformed(
        where,
        `data_offsets run past the end of the data region. Expected end <= ${dataSize}, got [${begin}, ${end}].`,
      );
    }
    const byteLength = numel * size;
    if (end - begin !== byteLength) {
      throw malformed(
        where,
        `data length does not match shape × dtype size. Expected ${byteLength} bytes (${numel} × ${size}, ${dtype} ${JSON.stringify(dims)}), got ${end - begin} (data_offsets [${begin}, ${end}]).`,
      );
    }
    entries.push({
      info: { name, dtype, shape: Object.freeze(dims.slice()), byteLength },
      begin: dataOffset + begin,
      end: dataOffset + end,
    });
  }
  // Storage order = data offset order; Array.prototype.sort is stable, so ties keep header order.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = dataOffset;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.begin < covered) {
      const prev = entries.slice(0, i).find((p) => p.end > e.begin);
      throw malformed(
        `${src}: tensor ${truncateForMessage(e.info.name)}`,
        `data overlaps tensor ${truncateForMessage(prev?.info.name ?? "?")}. Expected begin >= ${covered - dataOffset}, got ${e.begin - dataOffset}.`,
      );
    }
    if (e.begin > covered) {
      const msg = `${src}: gap of ${e.begin - covered} unused bytes in the data region before tensor ${truncateForMessage(e.info.name)} (data offset ${covered - dataOffset})`;
      if (strict) throw malformed(src, `${msg.slice(src.length + 2)}. Expected contiguous tensors.`);
      diagnostics.push(msg);
    }
    covered = e.end;
  }
  if (dataSizeKnown && covered < dataOffset + dataSize) {
    const msg = `${src}: ${dataOffset + dataSize - covered} trailing bytes after the last tensor`;
    if (strict)
      throw malformed(
        src,
        `${msg.slice(src.length + 2)}. Expected the data region to end with the last tensor.`,
      );
    diagnostics.push(msg);
  }
  return { entries, metadata: Object.fromEntries(metaPairs) };
}

/**
 * Decode the JSON header bytes (must start with '{', valid UTF-8, valid JSON). Internal: shared by
 * the random-access and the streaming reader.
 */
export function decodeHeaderJson(headerBytes: Uint8Array, file: string): unknown {
  if (headerBytes[0] !== 0x7b) {
    throw malformed(
      file,
      `header does not start with '{'. Expected a JSON object, got byte 0x${headerBytes[0]!.toString(16)}.`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch (e) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${file}: header is not valid UTF-8. Expected UTF-8 JSON, got invalid bytes.`,
      {
        cause: e,
      },
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
  const dup = duplicateTopLevelKey(text);
  if (dup !== undefined) {
    throw malformed(
      file,
      `${dup === "__metadata__" ? "__metadata__" : `tensor ${truncateForMessage(dup)}`} appears twice in the header. Expected unique names, got a duplicate (JSON.parse would silently keep the last).`,
    );
  }
  return json;
}

// The first key that occurs twice at the top level of `text`, which must be valid JSON (JSON.parse
// accepted it), so strings and brackets are well formed.
function duplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  const n = text.length;
  let depth = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      const end = ++i; // just past the closing quote
      if (depth === 1) {
        let j = i;
        while (j < n && (text[j] === " " || text[j] === "\n" || text[j] === "\r" || text[j] === "\t")) j++;
        if (text.charCodeAt(j) === 0x3a) {
          const key = JSON.parse(text.slice(start, end)) as string;
          if (seen.has(key)) return key;
          seen.add(key);
        }
      }
      continue;
    }
    if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
    i++;
  }
  return undefined;
}
