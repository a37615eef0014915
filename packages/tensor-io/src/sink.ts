// Where streamed output goes. Writers push chunks in order, then close (commit) or abort (discard).

import { PruneError } from "@mama-prune/core";

/**
 * An append-only destination for bytes. A writer calls `write` in order, awaiting each call, then
 * exactly one of `close` (commit) or `abort` (discard whatever was written). Implementations may
 * keep a reference to a chunk until its `write` resolves, so callers must not mutate it before then.
 */
export interface ByteSink {
  /** Append a chunk. */
  write(chunk: Uint8Array): Promise<void>;
  /** Commit everything written. */
  close(): Promise<void>;
  /** Discard everything written (a file sink deletes its temporary file). Safe after a failure. */
  abort(reason?: unknown): Promise<void>;
}

/** A ByteSink that keeps the bytes in memory; `bytes()` returns them once the sink is closed. */
export interface CollectSink extends ByteSink {
  /** Total bytes written so far. */
  readonly bytesWritten: number;
  /**
   * The written bytes, as one array.
   *
   * @throws PruneError TENSOR_IO_WRITE_FAILED when the sink is not closed or was aborted.
   */
  bytes(): Uint8Array;
}

/**
 * A memory sink: collects every chunk (copied, so callers may reuse their buffers) and joins them on
 * close. For tests, browsers and small files.
 *
 * @example
 * const sink = collectSink(); await sink.write(new Uint8Array([1, 2])); await sink.close();
 * sink.bytes(); // Uint8Array [1, 2]
 */
export function collectSink(): CollectSink {
  let chunks: Uint8Array[] = [];
  let total = 0;
  let state: "open" | "closed" | "aborted" = "open";
  let result: Uint8Array | undefined;
  const ensureOpen = (op: string): void => {
    if (state !== "open") {
      throw new PruneError(
        "TENSOR_IO_WRITE_FAILED",
        `<memory sink>: ${op} after the sink was ${state}. Expected an open sink, got a ${state} one.`,
      );
    }
  };
  return {
    get bytesWritten(): number {
      return total;
    },
    write(chunk: Uint8Array): Promise<void> {
      try {
        if (!(chunk instanceof Uint8Array))
          throw new TypeError("collectSink.write: chunk must be a Uint8Array");
        ensureOpen("write");
      } catch (e) {
        return Promise.reject(e);
      }
      chunks.push(chunk.slice());
      total += chunk.byteLength;
      return Promise.resolve();
    },
    close(): Promise<void> {
      if (state === "closed") return Promise.resolve();
      try {
        ensureOpen("close");
      } catch (e) {
        return Promise.reject(e);
      }
      const out = new Uint8Array(total); // (total,)
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.byteLength;
      }
      chunks = [];
      result = out;
      state = "closed";
      return Promise.resolve();
    },
    abort(): Promise<void> {
      if (state === "open") {
        chunks = [];
        total = 0;
        state = "aborted";
      }
      return Promise.resolve();
    },
    bytes(): Uint8Array {
      if (state !== "closed" || result === undefined) {
        throw new PruneError(
          "TENSOR_IO_WRITE_FAILED",
          `<memory sink>: bytes() called before close. Expected a closed sink, got a ${state} one.`,
        );
      }
      return result;
    },
  };
}

/**
 * A ByteSink over a web `WritableStream` (for example a `FileSystemWritableFileStream` in browsers
 * or `Writable.toWeb(...)` in Node). `abort` aborts the stream.
 *
 * @throws PruneError TENSOR_IO_WRITE_FAILED (from `write`/`close`) when the stream errors.
 * @example
 * const sink = writableStreamSink(await fileHandle.createWritable(), "model.safetensors");
 */
export function writableStreamSink(stream: WritableStream<Uint8Array>, name = "<stream>"): ByteSink {
  const writer = stream.getWriter();
  const wrap = async (op: string, f: () => Promise<void>): Promise<void> => {
    try {
      await f();
    } catch (e) {
      throw new PruneError("TENSOR_IO_WRITE_FAILED", `${name}: ${op} failed (${String(e)})`, { cause: e });
    }
  };
  return {
    write: (chunk) => wrap("write", () => writer.write(chunk)),
    close: () => wrap("close", () => writer.close()),
    async abort(reason?: unknown): Promise<void> {
      try {
        await writer.abort(reason);
      } catch {
        // Already errored or closed: nothing left to discard.
      }
    },
  };
}
