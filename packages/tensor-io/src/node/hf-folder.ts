// Node conveniences: read/write Hugging Face folders on disk, and open any supported checkpoint path.

import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { PruneError } from "@mama-prune/core";
import { parseJsonObject } from "../config.ts";
import {
  checkpointFromReader,
  type ReadHfCheckpointOptions,
  readHfCheckpoint,
  type WriteHfCheckpointOptions,
  type WriteHfCheckpointResult,
  writeHfCheckpoint,
} from "../hf-folder.ts";
import { readLlama2c } from "../llama2c.ts";
import { readSafetensors } from "../safetensors.ts";
import type { Checkpoint } from "../types.ts";
import { type CheckpointDirWriterOptions, createCheckpointDirWriter, openCheckpointDir } from "./dir.ts";
import { openFileSource } from "./file-source.ts";

/**
 * Open a Hugging Face checkpoint folder on disk (see {@link readHfCheckpoint}).
 *
 * @throws PruneError as {@link readHfCheckpoint}, and TENSOR_IO_NOT_FOUND when `path` is not a folder.
 * @example
 * const ckpt = await readHfCheckpointFolder("out/pruned"); await ckpt.close();
 */
export async function readHfCheckpointFolder(
  path: string,
  options: ReadHfCheckpointOptions = {},
): Promise<Checkpoint> {
  return readHfCheckpoint(await openCheckpointDir(path), options);
}

/**
 * Write a Hugging Face checkpoint folder on disk atomically (staging folder renamed into place;
 * see {@link writeHfCheckpoint} and {@link createCheckpointDirWriter}).
 *
 * @throws PruneError TENSOR_IO_EXISTS (non-empty destination without `overwrite`, or overlap with
 *   `inputs`), and everything {@link writeHfCheckpoint} throws.
 * @example
 * await writeHfCheckpointFolder("out/pruned", { config: ckpt.config, tensors: checkpointEntries(ckpt), inputs: [src] });
 */
export async function writeHfCheckpointFolder(
  path: string,
  options: WriteHfCheckpointOptions & CheckpointDirWriterOptions,
): Promise<WriteHfCheckpointResult> {
  const dirOptions: CheckpointDirWriterOptions = {
    ...(options.overwrite !== undefined ? { overwrite: options.overwrite } : {}),
    ...(options.inputs !== undefined ? { inputs: options.inputs } : {}),
  };
  return writeHfCheckpoint(await createCheckpointDirWriter(path, dirOptions), options);
}

/**
 * Open any supported checkpoint path: a Hugging Face folder, a `.safetensors` file (config from a
 * `config.json` beside it when present, else `{}`), or a llama2.c `.bin`. Files are recognised by
 * content (safetensors: a JSON header after the 8-byte length), not only by extension. PyTorch
 * pickle/zip `.bin` files are refused.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND when nothing is at `path`; TENSOR_IO_UNSUPPORTED for
 *   PyTorch pickle checkpoints; the errors of the format's reader otherwise.
 * @example
 * const ckpt = await openCheckpoint("data/stories260K/stories260K.bin");
 * ckpt.format; // "llama2c"
 */
export async function openCheckpoint(
  path: string,
  options: ReadHfCheckpointOptions = {},
): Promise<Checkpoint> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (e) {
    throw new PruneError("TENSOR_IO_NOT_FOUND", `${path}: no such file or folder.`, { cause: e });
  }
  if (st.isDirectory()) return readHfCheckpointFolder(path, options);
  const src = await openFileSource(path);
  try {
    const head = await src.read(0, Math.min(9, src.size));
    if (head[0] === 0x50 && head[1] === 0x4b) {
      throw new PruneError(
        "TENSOR_IO_UNSUPPORTED",
        `${path}: PyTorch zip/pickle checkpoints are not supported. Expected safetensors, a Hugging Face folder or a llama2.c .bin, got a zip archive.`,
      );
    }
    const looksSafetensors = head.length === 9 && head[8] === 0x7b; // "{" right after the length
    if (looksSafetensors || path.endsWith(".safetensors")) {
      const reader = await readSafetensors(src, {
        name: path,
        ...(options.logger ? { logger: options.logger } : {}),
        lenient: options.lenient ?? false,
      });
      let config: Record<string, unknown> = {};
      const sibling = join(dirname(path), "config.json");
      const cst = await stat(sibling).catch(() => null);
      if (cst?.isFile()) config = parseJsonObject(new Uint8Array(await readFile(sibling)), sibling);
      return await checkpointFromReader(reader, config, "safetensors");
    }
    return await readLlama2c(src);
  } catch (e) {
    await src.close?.();
    throw e;
  }
}
