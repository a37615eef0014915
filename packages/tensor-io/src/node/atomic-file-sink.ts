// An all-or-nothing file sink: bytes go to a temporary file next to the destination; close() fsyncs
// it and moves it into place in one step; abort() (or any failure) deletes it. A reader never sees a
// half-written file, and a crash leaves the old destination untouched (plus at worst a stray
// `.<name>.<id>.tmp` file).

import { randomUUID } from "node:crypto";
import { type FileHandle, link, open, realpath, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { PruneError } from "@mama-prune/core";
import type { ByteSink } from "../sink.ts";

/** Options of {@link createAtomicFileSink}. */
export interface AtomicFileSinkOptions {
  /** Replace an existing destination (default false: TENSOR_IO_EXISTS if it exists). */
  readonly overwrite?: boolean;
  /**
   * Files this output is computed from. Writing onto one of them is refused even with
   * `overwrite: true` (TENSOR_IO_EXISTS), since it would destroy the input while it is being read.
   */
  readonly inputs?: readonly string[];
}

/** A ByteSink writing a file atomically. */
export interface AtomicFileSink extends ByteSink {
  /** The final destination path. */
  readonly path: string;
  /** The temporary file being written (deleted or renamed by close/abort). */
  readonly tempPath: string;
  /** Bytes written so far. */
  readonly bytesWritten: number;
}

async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    const [sa, sb] = await Promise.all([stat(a), stat(b)]);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    // One of them does not exist: compare canonical paths of what does.
    const canon = async (p: string): Promise<string> => {
      try {
        return await realpath(p);
      } catch {
        return resolve(p);
      }
    };
    return (await canon(a)) === (await canon(b));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return false;
    throw e;
  }
}

function writeFailed(path: string, what: string, cause: unknown): PruneError {
  const code = (cause as { code?: string } | undefined)?.code;
  return new PruneError("TENSOR_IO_WRITE_FAILED", `${path}: ${what} (${code ?? String(cause)})`, { cause });
}

/**
 * Create an atomic file sink for `path`. The temporary file `.<name>.<uuid>.tmp` is created in the
 * same folder (so the final rename never crosses file systems).
 *
 * @throws PruneError TENSOR_IO_EXISTS when `path` exists and `overwrite` is false, or when `path` is one of `inputs`.
 * @throws PruneError TENSOR_IO_WRITE_FAILED when the temporary file cannot be created (missing folder, permissions).
 * @example
 * const sink = await createAtomicFileSink("out/model.safetensors");
 * await writeSafetensors(sink, entries); // closes (commits) the sink, or aborts it on failure
 */
export async function createAtomicFileSink(
  path: string,
  options: AtomicFileSinkOptions = {},
): Promise<AtomicFileSink> {
  if (typeof path !== "string" || path.length === 0)
    throw new TypeError("createAtomicFileSink: path must be a non-empty string");
  const overwrite = options.overwrite ?? false;
  for (const input of options.inputs ?? []) {
    if (await sameFile(path, input)) {
      throw new PruneError(
        "TENSOR_IO_EXISTS",
        `${path}: refusing to write onto an input of this computation. Expected an output path different from ${input}, got the same file.`,
      );
    }
  }
  if (!overwrite && (await exists(path))) {
    throw new PruneError(
      "TENSOR_IO_EXISTS",
      `${path}: destination already exists. Expected a new path (or overwrite: true), got an existing file.`,
    );
  }
  const tempPath = join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
  let handle: FileHandle;
  try {
    handle = await open(tempPath, "wx", 0o644);
  } catch (e) {
    throw writeFailed(path, `cannot create temporary file ${tempPath}`, e);
  }
  let state: "open" | "closing" | "closed" | "aborted" = "open";
  let written = 0;
  let failed: unknown;

  const discard = async (): Promise<void> => {
    await handle.close().catch(() => undefined);
    await unlink(tempPath).catch(() => undefined);
  };

  const sink: AtomicFileSink = {
    path,
    tempPath,
    get bytesWritten(): number {
      return written;
    },
    async write(chunk: Uint8Array): Promise<void> {
      if (!(chunk instanceof Uint8Array))
        throw new TypeError("AtomicFileSink.write: chunk must be a Uint8Array");
      if (state !== "open" || failed !== undefined) {
        throw new PruneError(
          "TENSOR_IO_WRITE_FAILED",
          `${path}: write after the sink was ${failed !== undefined ? "failed" : state}. Expected an open sink, got a ${state} one.`,
        );
      }
      try {
        let done = 0;
        while (done < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done);
          done += bytesWritten;
        }
        written += done;
      } catch (e) {
        failed = e;
        state = "aborted";
        await discard();
        throw writeFailed(path, `write to ${tempPath} failed`, e);
      }
    },
    async close(): Promise<void> {
      if (state === "closed") return;
      if (state !== "open") {
        throw new PruneError(
          "TENSOR_IO_WRITE_FAILED",
          `${path}: close after the sink was ${state}. Expected an open sink.`,
        );
      }
      state = "closing";
      try {
        await handle.sync();
        await handle.close();
      } catch (e) {
        state = "aborted";
        await discard();
        throw writeFailed(path, `flushing ${tempPath} failed`, e);
      }
      try {
        if (overwrite) {
          await rename(tempPath, path);
        } else {
          // link() fails with EEXIST instead of replacing: no-clobber even if the destination appeared meanwhile.
          try {
            await link(tempPath, path);
          } catch (e) {
            const code = (e as { code?: string }).code;
            if (code === "EEXIST") {
              throw new PruneError(
                "TENSOR_IO_EXISTS",
                `${path}: destination appeared while writing. Expected a new path (or overwrite: true), got an existing file.`,
                { cause: e },
              );
            }
            // File systems without hard links: check, then rename (small race window, documented).
            if (await exists(path)) {
              throw new PruneError(
                "TENSOR_IO_EXISTS",
                `${path}: destination already exists. Expected a new path.`,
                {
                  cause: e,
                },
              );
            }
            await rename(tempPath, path);
          }
          await unlink(tempPath).catch(() => undefined);
        }
      } catch (e) {
        state = "aborted";
        await unlink(tempPath).catch(() => undefined);
        if (e instanceof PruneError) throw e;
        throw writeFailed(path, `moving ${tempPath} into place failed`, e);
      }
      state = "closed";
      // Persist the directory entry too (best effort: not every platform lets you fsync a folder).
      try {
        const dir = await open(dirname(resolve(path)), "r");
        try {
          await dir.sync();
        } finally {
          await dir.close();
        }
      } catch {
        // Ignored: Windows and some file systems refuse directory fsync.
      }
    },
    async abort(): Promise<void> {
      if (state === "closed" || state === "aborted") return;
      state = "aborted";
      await discard();
    },
  };
  return sink;
}
