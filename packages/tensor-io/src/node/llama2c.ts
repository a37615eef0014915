// Node conveniences for llama2.c files.

import { readFile } from "node:fs/promises";
import { PruneError } from "@mama-prune/core";
import {
  type Llama2cWriteInput,
  type Llama2cWriteOptions,
  readLlama2c,
  writeLlama2cToSink,
} from "../llama2c.ts";
import { type Llama2cTokenizer, readLlama2cTokenizer } from "../tokenizer-bin.ts";
import type { Checkpoint } from "../types.ts";
import { type AtomicFileSinkOptions, createAtomicFileSink } from "./atomic-file-sink.ts";
import { openFileSource } from "./file-source.ts";

/**
 * Open a llama2.c .bin checkpoint from disk lazily (positional reads per tensor). Close it when done.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND when the file is missing; TENSOR_IO_MALFORMED /
 *   TENSOR_IO_UNSUPPORTED as {@link readLlama2c}.
 * @example
 * const ckpt = await readLlama2cFile("data/stories260K/stories260K.bin");
 * ckpt.config.hidden_size; // 64
 */
export async function readLlama2cFile(path: string): Promise<Checkpoint> {
  const src = await openFileSource(path);
  try {
    return await readLlama2c(src);
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

/**
 * Read and parse a llama2.c tokenizer.bin from disk.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND when the file is missing; TOKENIZER_INVALID as
 *   {@link readLlama2cTokenizer}.
 * @example
 * (await readLlama2cTokenizerFile("data/stories260K/tok512.bin", 512)).pieces[259]; // " t"
 */
export async function readLlama2cTokenizerFile(path: string, vocabSize: number): Promise<Llama2cTokenizer> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new PruneError(
      code === "ENOENT" ? "TENSOR_IO_NOT_FOUND" : "TOKENIZER_INVALID",
      `${path}: cannot read tokenizer (${code ?? String(e)})`,
      { cause: e },
    );
  }
  return readLlama2cTokenizer(bytes, vocabSize, path);
}

/**
 * Write a Llama checkpoint as a llama2.c legacy .bin atomically (temporary file, fsync, rename),
 * streaming one tensor at a time (see {@link writeLlama2cToSink}).
 *
 * @returns Bytes written.
 * @throws PruneError TENSOR_IO_EXISTS (destination exists without `overwrite`, or is one of
 *   `inputs`), and everything {@link writeLlama2cToSink} throws.
 * @example
 * await writeLlama2cFile("pruned.bin", ckpt, { inputs: ["stories260K.bin"] });
 */
export async function writeLlama2cFile(
  path: string,
  input: Llama2cWriteInput,
  options: Llama2cWriteOptions & AtomicFileSinkOptions = {},
): Promise<number> {
  const sinkOptions: AtomicFileSinkOptions = {
    ...(options.overwrite !== undefined ? { overwrite: options.overwrite } : {}),
    ...(options.inputs !== undefined ? { inputs: options.inputs } : {}),
  };
  const sink = await createAtomicFileSink(path, sinkOptions);
  return writeLlama2cToSink(sink, input, options.seqLen !== undefined ? { seqLen: options.seqLen } : {});
}
