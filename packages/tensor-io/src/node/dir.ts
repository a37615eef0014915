// Node adapters for checkpoint folders: a CheckpointDir over a real folder, and a writer that
// stages files in a hidden sibling folder and renames it into place on commit.

import { randomUUID } from "node:crypto";
import { mkdir, open, readdir, realpath, rename, rm, rmdir, stat } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { PruneError } from "@mama-prune/core";
import { type CheckpointDir, checkFileName, type WritableCheckpointDir } from "../hf-folder.ts";
import type { ByteSink } from "../sink.ts";
import type { ByteSource } from "../types.ts";
import { openFileSource } from "./file-source.ts";

async function statOrNull(path: string): Promise<Awaited<ReturnType<typeof stat>> | null> {
  try {
    return await stat(path);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw e;
  }
}

/**
 * A {@link CheckpointDir} over a folder on disk (flat: files directly inside it).
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND when `path` does not exist or is not a folder.
 * @example
 * const dir = await openCheckpointDir("models/llama"); await dir.list(); // ["config.json", ...]
 */
export async function openCheckpointDir(path: string): Promise<CheckpointDir> {
  const st = await statOrNull(path);
  if (st === null || !st.isDirectory()) {
    throw new PruneError(
      "TENSOR_IO_NOT_FOUND",
      `${path}: not a folder. Expected a checkpoint folder, got ${st === null ? "nothing" : "a file"}.`,
    );
  }
  const fileStat = async (file: string): Promise<boolean> => {
    checkFileName(file, path);
    const s = await statOrNull(join(path, file));
    return s?.isFile() === true;
  };
  return {
    name: path,
    list: async (): Promise<string[]> => {
      const entries = await readdir(path, { withFileTypes: true });
      return entries.filter((e) => e.isFile()).map((e) => e.name);
    },
    exists: fileStat,
    open: async (file: string): Promise<ByteSource> => {
      checkFileName(file, path);
      return openFileSource(join(path, file));
    },
  };
}

/** Options of {@link createCheckpointDirWriter}. */
export interface CheckpointDirWriterOptions {
  /** Replace an existing non-empty destination folder (default false: TENSOR_IO_EXISTS). */
  readonly overwrite?: boolean;
  /**
   * Files or folders this output is computed from. A destination equal to, inside, or containing
   * one of them is refused even with `overwrite` (TENSOR_IO_EXISTS).
   */
  readonly inputs?: readonly string[];
}

async function canonical(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    // Not there yet: canonicalise the parent that exists.
    const parent = dirname(resolve(p));
    if (parent === resolve(p)) return resolve(p);
    return join(await canonical(parent), basename(p));
  }
}

function overlaps(a: string, b: string): boolean {
  const inside = (x: string, y: string): boolean => {
    const r = relative(y, x);
    return r === "" || (!r.startsWith("..") && !r.startsWith(sep) && !/^[A-Za-z]:/.test(r));
  };
  return inside(a, b) || inside(b, a);
}

function writeFailed(path: string, what: string, cause: unknown): PruneError {
  const code = (cause as { code?: string } | undefined)?.code;
  return new PruneError("TENSOR_IO_WRITE_FAILED", `${path}: ${what} (${code ?? String(cause)})`, { cause });
}

/**
 * A {@link WritableCheckpointDir} for folder `path`: files are written into a hidden staging
 * folder next to it (`.<name>.<uuid>.tmp`, same file system) and `commit()` renames that folder
 * to `path`. An existing empty folder is replaced; a non-empty one only with `overwrite` (moved
 * aside, then deleted after the new folder is in place: readers briefly see no folder, never a
 * half-written one). `abort()` deletes the staging folder.
 *
 * @throws PruneError TENSOR_IO_EXISTS (non-empty destination without `overwrite`, a file at
 *   `path`, or overlap with `inputs`); TENSOR_IO_WRITE_FAILED (cannot create the staging folder).
 * @example
 * const out = await createCheckpointDirWriter("out/pruned", { inputs: ["models/llama"] });
 * await writeHfCheckpoint(out, { config, tensors });
 */
export async function createCheckpointDirWriter(
  path: string,
  options: CheckpointDirWriterOptions = {},
): Promise<WritableCheckpointDir> {
  if (typeof path !== "string" || path.length === 0) {
    throw new TypeError("createCheckpointDirWriter: path must be a non-empty string");
  }
  const target = await canonical(path);
  for (const input of options.inputs ?? []) {
    if (overlaps(target, await canonical(input))) {
      throw new PruneError(
        "TENSOR_IO_EXISTS",
        `${path}: refusing to write over an input of this computation. Expected an output folder apart from ${input}, got an overlapping path.`,
      );
    }
  }
  const checkDestination = async (): Promise<"missing" | "empty" | "full"> => {
    const st = await statOrNull(path);
    if (st === null) return "missing";
    if (!st.isDirectory()) {
      throw new PruneError(
        "TENSOR_IO_EXISTS",
        `${path}: a file is in the way. Expected a folder or nothing, got a file.`,
      );
    }
    const entries = await readdir(path);
    if (entries.length === 0) return "empty";
    if (!options.overwrite) {
      throw new PruneError(
        "TENSOR_IO_EXISTS",
        `${path}: destination folder is not empty. Expected an empty or new folder (or overwrite: true), got ${entries.length} entries.`,
      );
    }
    return "full";
  };
  await checkDestination();
  const parent = dirname(resolve(path));
  try {
    await mkdir(parent, { recursive: true });
  } catch (e) {
    throw writeFailed(path, `cannot create parent folder ${parent}`, e);
  }
  const staging = join(parent, `.${basename(resolve(path))}.${randomUUID()}.tmp`);
  try {
    await mkdir(staging);
  } catch (e) {
    throw writeFailed(path, `cannot create staging folder ${staging}`, e);
  }
  let state: "open" | "committed" | "aborted" = "open";
  const ensureOpen = (op: string): void => {
    if (state !== "open") {
      throw new PruneError("TENSOR_IO_WRITE_FAILED", `${path}: ${op} after the folder was ${state}.`);
    }
  };
  return {
    name: path,
    create: async (file: string): Promise<ByteSink> => {
      ensureOpen(`create(${file})`);
      checkFileName(file, path);
      const full = join(staging, file);
      let handle: Awaited<ReturnType<typeof open>>;
      try {
        handle = await open(full, "wx", 0o644);
      } catch (e) {
        throw writeFailed(path, `cannot create ${file} in ${staging}`, e);
      }
      let closed = false;
      return {
        write: async (chunk: Uint8Array): Promise<void> => {
          try {
            let done = 0;
            while (done < chunk.byteLength) {
              const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done);
              done += bytesWritten;
            }
          } catch (e) {
            throw writeFailed(path, `writing ${file} failed`, e);
          }
        },
        close: async (): Promise<void> => {
          if (closed) return;
          closed = true;
          try {
            await handle.sync();
            await handle.close();
          } catch (e) {
            throw writeFailed(path, `flushing ${file} failed`, e);
          }
        },
        abort: async (): Promise<void> => {
          if (closed) return;
          closed = true;
          await handle.close().catch(() => undefined);
          await rm(full, { force: true }).catch(() => undefined);
        },
      };
    },
    commit: async (): Promise<void> => {
      ensureOpen("commit");
      const dest = await checkDestination();
      try {
        if (dest === "empty") await rmdir(path);
        if (dest === "full") {
          const aside = join(parent, `.${basename(resolve(path))}.${randomUUID()}.old`);
          await rename(path, aside);
          await rename(staging, path);
          await rm(aside, { recursive: true, force: true });
        } else {
          await rename(staging, path);
        }
      } catch (e) {
        throw writeFailed(path, `moving ${staging} into place failed`, e);
      }
      state = "committed";
    },
    abort: async (): Promise<void> => {
      if (state !== "open") return;
      state = "aborted";
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
