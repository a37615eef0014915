// Checkpoint folders as seen by library code: CheckpointDir (read) and WritableCheckpointDir (write,
// committed atomically). `@mama-prune/tensor-io/node` adapts real folders; `memoryCheckpointDir`
// keeps files in memory (tests, browsers).

import { PruneError, quoteUntrusted } from "@mama-prune/core";
import { bytesSource } from "./byte-source.ts";
import type { ByteSink } from "./sink.ts";
import type { ByteSource } from "./types.ts";

// ---- Folder abstraction ----

/** The index file name of a sharded Hugging Face checkpoint. */
export const HF_INDEX_FILE = "model.safetensors.index.json";
/** The single-file weights name of a Hugging Face checkpoint. */
export const HF_SINGLE_FILE = "model.safetensors";

/** Read access to the files of a checkpoint folder (flat: file names, no sub-folders). */
export interface CheckpointDir {
  /** Folder path or label, for messages. */
  readonly name: string;
  /** File names in the folder. */
  list(): Promise<string[]>;
  /** Open one file for random access; rejects with TENSOR_IO_NOT_FOUND when it does not exist. */
  open(file: string): Promise<ByteSource>;
  /** True when the file exists. */
  exists(file: string): Promise<boolean>;
}

/**
 * A folder being written: files are created in a staging area and appear at the destination
 * together on `commit()` (or not at all after `abort()`).
 */
export interface WritableCheckpointDir {
  /** Destination path or label, for messages. */
  readonly name: string;
  /** Create a new file in the staging area. */
  create(file: string): Promise<ByteSink>;
  /** Move everything written into place. */
  commit(): Promise<void>;
  /** Discard everything written. Safe to call after a failure or twice. */
  abort(reason?: unknown): Promise<void>;
}

/** A plain file name: one path segment of `[A-Za-z0-9._-]`. */
export const SAFE_FILE: RegExp = /^[A-Za-z0-9._-]+$/;

/**
 * Validate a file name inside a checkpoint folder: one path segment of `[A-Za-z0-9._-]`, not
 * "." or "..". Guards against index files pointing outside the folder.
 *
 * @throws PruneError TENSOR_IO_MALFORMED naming `where` when the name is unsafe.
 * @example
 * checkFileName("model-00001-of-00002.safetensors", "index"); // ok
 */
export function checkFileName(file: string, where: string): void {
  if (
    typeof file !== "string" ||
    !SAFE_FILE.test(file) ||
    file === "." ||
    file === ".." ||
    file.length > 255
  ) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${where}: unsafe file name. Expected one path segment of [A-Za-z0-9._-], got ${quoteUntrusted(file)}.`,
    );
  }
}

/** A folder held in memory, readable and writable (commit publishes staged files). */
export interface MemoryCheckpointDir extends CheckpointDir, WritableCheckpointDir {
  /** The committed files. */
  readonly files: Map<string, Uint8Array>;
}

/**
 * A checkpoint folder in memory: read from `files`, write through `create` + `commit`.
 *
 * @example
 * const dir = memoryCheckpointDir("out");
 * await writeHfCheckpoint(dir, { config, tensors });
 * const ckpt = await readHfCheckpoint(dir);
 */
export function memoryCheckpointDir(
  name = "<memory>",
  files: Map<string, Uint8Array> = new Map(),
): MemoryCheckpointDir {
  let staged = new Map<string, Uint8Array>();
  const pending = new Set<string>();
  return {
    name,
    files,
    list: async (): Promise<string[]> => [...files.keys()],
    exists: async (file: string): Promise<boolean> => files.has(file),
    open: async (file: string): Promise<ByteSource> => {
      const b = files.get(file);
      if (b === undefined) {
        throw new PruneError("TENSOR_IO_NOT_FOUND", `${name}/${quoteUntrusted(file)}: no such file.`);
      }
      return bytesSource(b, `${name}/${file}`);
    },
    create: async (file: string): Promise<ByteSink> => {
      checkFileName(file, name);
      if (staged.has(file) || pending.has(file)) {
        throw new PruneError("TENSOR_IO_EXISTS", `${name}/${file}: created twice in one write.`);
      }
      pending.add(file);
      const chunks: Uint8Array[] = [];
      return {
        write: async (chunk: Uint8Array): Promise<void> => {
          chunks.push(chunk.slice());
        },
        close: async (): Promise<void> => {
          const total = chunks.reduce((a, c) => a + c.byteLength, 0);
          const out = new Uint8Array(total); // (total,)
          let at = 0;
          for (const c of chunks) {
            out.set(c, at);
            at += c.byteLength;
          }
          pending.delete(file);
          staged.set(file, out);
        },
        abort: async (): Promise<void> => {
          pending.delete(file);
        },
      };
    },
    commit: async (): Promise<void> => {
      files.clear();
      for (const [k, v] of staged) files.set(k, v);
      staged = new Map();
    },
    abort: async (): Promise<void> => {
      staged = new Map();
      pending.clear();
    },
  };
}

/** Read a whole (small) file of a folder. */
export async function readSmallFile(dir: CheckpointDir, file: string): Promise<Uint8Array> {
  const src = await dir.open(file);
  try {
    return await src.read(0, src.size);
  } finally {
    await src.close?.();
  }
}
