// safetensors from a one-pass ReadableStream (a fetch body without Range support, a pipe): the
// header is read and validated first, then tensors arrive in storage order, one at a time. Nothing
// is sized from the header alone: tensor bytes are gathered as they actually arrive, so a header
// that lies about sizes can never make us allocate more than the stream delivered.

import { type Logger, PruneError, quoteUntrusted, SILENT_LOGGER } from "@mama-prune/core";
import { bytesToF32 } from "./dtype.ts";
import { DEFAULT_MAX_HEADER_BYTES } from "./safetensors.ts";
import { decodeHeaderJson, type Entry, parseHeader, type SafetensorsWarning } from "./safetensors-header.ts";
import { isLenient } from "./safetensors-inspect.ts";
import type { TensorInfo } from "./types.ts";

/** Options of {@link readSafetensorsStream}. */
export interface ReadSafetensorsStreamOptions {
  /** Name for messages (e.g. the URL). Default `"<stream>"`. */
  readonly name?: string;
  /** Largest accepted JSON header in bytes (default 100 MiB). */
  readonly maxHeaderBytes?: number;
  /**
   * Total stream length when known (e.g. Content-Length): then offsets are checked against it up
   * front, and trailing bytes are reported. Without it, a short stream is detected when it ends.
   */
  readonly totalBytes?: number;
  /**
   * Accept unused bytes (before, between or, with `totalBytes`, after the tensors) and unknown entry
   * fields, reported in `warnings`. Default false: strict, each is an error, and without `totalBytes`
   * a byte after the last tensor fails the iteration when it gets there.
   */
  readonly lenient?: boolean;
  /** @deprecated Strict is the default; `strict: false` is the same as `lenient: true`. */
  readonly strict?: boolean;
  /** Receives one `warn` per warning. */
  readonly logger?: Logger;
}

/** One tensor as it arrives from the stream. */
export interface StreamedTensor {
  /** Name, dtype, shape and byte length. */
  readonly info: TensorInfo;
  /** The stored little-endian bytes. */
  readonly bytes: Uint8Array;
  /** The values converted to float32. */
  f32(): Float32Array;
}

/** A safetensors stream whose header has been read and validated. */
export interface SafetensorsStream {
  /** The name used in messages. */
  readonly source: string;
  /** The `__metadata__` map of the header (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Findings accepted in lenient mode (gaps, unknown fields, trailing bytes when `totalBytes` is known). */
  readonly warnings: readonly SafetensorsWarning[];
  /** The messages of `warnings` (kept for compatibility). */
  readonly diagnostics: readonly string[];
  /** All tensors, in storage (arrival) order. */
  list(): readonly TensorInfo[];
  /**
   * The tensors in storage order, each read when the iteration reaches it. Iterate once; breaking
   * out early cancels the stream.
   *
   * @throws PruneError TENSOR_IO_MALFORMED when the stream ends early (message names the tensor).
   */
  tensors(): AsyncIterableIterator<StreamedTensor>;
  /** Stop reading and release the stream. Safe to call twice. */
  cancel(reason?: unknown): Promise<void>;
}

// Pulls exact byte counts out of a chunked stream without ever allocating more than has arrived.
function chunkReader(stream: ReadableStream<Uint8Array>, name: string) {
  const reader = stream.getReader();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let done = false;
  let consumed = 0;
  const pull = async (): Promise<boolean> => {
    if (done) return false;
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await reader.read();
    } catch (e) {
      throw new PruneError("TENSOR_IO_MALFORMED", `${name}: stream failed (${String(e)})`, { cause: e });
    }
    if (r.done) {
      done = true;
      return false;
    }
    if (!(r.value instanceof Uint8Array)) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${name}: stream produced a non-byte chunk. Expected Uint8Array chunks, got ${Object.prototype.toString.call(r.value)}.`,
      );
    }
    if (r.value.byteLength > 0) {
      pending.push(r.value);
      pendingBytes += r.value.byteLength;
    }
    return true;
  };
  // Take up to `n` bytes from what is pending, as a list of views (no copies).
  const take = (n: number): Uint8Array[] => {
    const out: Uint8Array[] = [];
    let need = n;
    while (need > 0) {
      const head = pending[0]!;
      if (head.byteLength <= need) {
        out.push(head);
        pending.shift();
        need -= head.byteLength;
      } else {
        out.push(head.subarray(0, need));
        pending[0] = head.subarray(need);
        need = 0;
      }
    }
    pendingBytes -= n;
    consumed += n;
    return out;
  };
  return {
    get consumed(): number {
      return consumed;
    },
    /** Exactly `n` bytes, or `what` is reported as truncated. Memory grows only with arrived data. */
    async exactly(n: number, what: string): Promise<Uint8Array> {
      const parts: Uint8Array[] = [];
      let got = 0;
      while (got < n) {
        if (pendingBytes === 0 && !(await pull())) {
          throw new PruneError(
            "TENSOR_IO_MALFORMED",
            `${name}: stream ended inside ${what}. Expected ${n} more bytes, got ${got}.`,
          );
        }
        const piece = take(Math.min(n - got, pendingBytes));
        for (const p of piece) parts.push(p);
        got += piece.reduce((a, p) => a + p.byteLength, 0);
      }
      if (parts.length === 1) return parts[0]!.slice();
      const out = new Uint8Array(n); // (n,) only now: n bytes have actually arrived
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.byteLength;
      }
      return out;
    },
    async skip(n: number, what: string): Promise<void> {
      let left = n;
      while (left > 0) {
        if (pendingBytes === 0 && !(await pull())) {
          throw new PruneError(
            "TENSOR_IO_MALFORMED",
            `${name}: stream ended inside ${what}. Expected ${left} more bytes, got 0.`,
          );
        }
        const k = Math.min(left, pendingBytes);
        take(k);
        left -= k;
      }
    },
    /** Bytes left after the last tensor: reads to the end, or stops once more than `max` arrived. */
    async drain(max: number): Promise<number> {
      let n = pendingBytes;
      pending = [];
      pendingBytes = 0;
      while (n <= max && (await pull())) {
        n += pendingBytes;
        pending = [];
        pendingBytes = 0;
      }
      return n;
    },
    async cancel(reason?: unknown): Promise<void> {
      done = true;
      pending = [];
      pendingBytes = 0;
      try {
        await reader.cancel(reason);
      } catch {
        // Already errored or closed.
      }
    },
  };
}

/**
 * Read a safetensors file from a one-pass `ReadableStream` (e.g. `(await fetch(url)).body`): reads
 * and validates the header, then hands out tensors in storage order as they arrive.
 *
 * @throws PruneError TENSOR_IO_MALFORMED (bad length, header, offsets; stream ended early);
 *   DTYPE_UNSUPPORTED. Messages name the stream and the tensor.
 * @example
 * const st = await readSafetensorsStream((await fetch(url)).body!, { name: url });
 * for await (const t of st.tensors()) console.log(t.info.name, t.f32().length);
 */
export async function readSafetensorsStream(
  stream: ReadableStream<Uint8Array>,
  options: ReadSafetensorsStreamOptions = {},
): Promise<SafetensorsStream> {
  if (typeof (stream as { getReader?: unknown })?.getReader !== "function") {
    throw new TypeError("readSafetensorsStream: stream must be a ReadableStream");
  }
  const name = options.name ?? "<stream>";
  const maxHeader = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeader) || maxHeader < 2) {
    throw new RangeError(`readSafetensorsStream: maxHeaderBytes must be an integer >= 2, got ${maxHeader}`);
  }
  const total = options.totalBytes;
  if (total !== undefined && (!Number.isSafeInteger(total) || total < 0)) {
    throw new RangeError(`readSafetensorsStream: totalBytes must be a non-negative integer, got ${total}`);
  }
  const lenient = isLenient(options);
  const r = chunkReader(stream, name);
  try {
    if (total !== undefined && total < 8) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${name}: too small to be a safetensors file. Expected at least 8 bytes, got ${total}.`,
      );
    }
    const lenBytes = await r.exactly(8, "the header length");
    const headerLen64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
    const limit = total !== undefined ? Math.min(maxHeader, total - 8) : maxHeader;
    if (headerLen64 > BigInt(limit)) {
      const why = total !== undefined && total - 8 < maxHeader ? "exceeds the stream size" : "is too large";
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${name}: header length ${why}. Expected at most ${limit} bytes, got ${headerLen64}.`,
      );
    }
    const headerLen = Number(headerLen64);
    if (headerLen < 2) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${name}: header is too short to hold a JSON object. Expected at least 2 bytes, got ${headerLen}.`,
      );
    }
    const json = decodeHeaderJson(await r.exactly(headerLen, "the header"), name);
    const dataOffset = 8 + headerLen;
    const warnings: SafetensorsWarning[] = [];
    const known = total !== undefined;
    const { entries, metadata } = parseHeader(
      json,
      name,
      dataOffset,
      known ? total - dataOffset : Number.MAX_SAFE_INTEGER - dataOffset,
      lenient,
      warnings,
      known,
    );
    const log = options.logger ?? SILENT_LOGGER;
    for (const w of warnings) log.warn(w.message, { kind: w.kind });
    const infos: readonly TensorInfo[] = Object.freeze(entries.map((e) => e.info));
    let started = false;
    async function* iterate(): AsyncGenerator<StreamedTensor> {
      let completed = false;
      try {
        for (const e of entries as Entry[]) {
          const what = `tensor ${quoteUntrusted(e.info.name)}`;
          if (e.begin > r.consumed) await r.skip(e.begin - r.consumed, `the gap before ${what}`);
          const bytes = await r.exactly(e.end - e.begin, what);
          const info = e.info;
          yield { info, bytes, f32: () => bytesToF32(bytes, info.dtype, `${name}: ${what}`) };
        }
        if (known) {
          const rest = await r.drain(total - r.consumed); // bounded: an endless stream cannot hang us
          if (r.consumed + rest !== total) {
            throw new PruneError(
              "TENSOR_IO_MALFORMED",
              `${name}: stream length does not match totalBytes. Expected ${total} bytes, got ${r.consumed + rest}.`,
            );
          }
        } else if (!lenient && (await r.drain(0)) > 0) {
          // One more chunk at most (an endless stream cannot hang us): the file must end here.
          const last = entries[entries.length - 1];
          throw new PruneError(
            "TENSOR_IO_MALFORMED",
            `${name}: ${last !== undefined ? `trailing bytes after the last tensor ${quoteUntrusted(last.info.name)}` : "data bytes but no tensors"}. Expected the stream to end at byte ${r.consumed} (lenient mode accepts this), got more bytes.`,
          );
        } else {
          await r.cancel(); // lenient: whatever follows the last tensor is not ours to read
        }
        completed = true;
      } finally {
        if (!completed) await r.cancel();
      }
    }
    return {
      source: name,
      metadata: Object.freeze(metadata),
      warnings: Object.freeze(warnings),
      diagnostics: Object.freeze(warnings.map((w) => w.message)),
      list: (): readonly TensorInfo[] => infos,
      tensors(): AsyncIterableIterator<StreamedTensor> {
        if (started)
          throw new TypeError(`${name}: tensors() can be iterated only once (the stream is one-pass)`);
        started = true;
        return iterate();
      },
      cancel: (reason?: unknown): Promise<void> => r.cancel(reason),
    };
  } catch (e) {
    await r.cancel(e);
    throw e;
  }
}
