// ---- Files carried from the input folder into a written folder (prune, distill, grpo) ----

import { readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { escapeUntrusted } from "@mama-prune/core";
import { llama2cTokenizerConfig, llama2cTokenizerJson, parseLlamaConfig } from "@mama-prune/model";
import { readLlama2cTokenizer, type SideFile, sideFiles } from "@mama-prune/tensor-io";
import { openCheckpointDir } from "@mama-prune/tensor-io/node";
import { PROVENANCE_FILE } from "./provenance.ts";

/** Provenance of `distill` / `grpo` folders (the training counterpart of `pruning.json`). */
export const TRAINING_PROVENANCE_FILE = "training.json";

/** Options of {@link outputSideFiles}. */
export interface OutputSideFilesOptions {
  /**
   * The model's config (Hugging Face keys): with it, a llama2.c `tokenizer.bin` gets an equivalent
   * `tokenizer.json` + `tokenizer_config.json` beside it (vocab_size and max_position_embeddings).
   */
  readonly modelConfig?: Readonly<Record<string, unknown>>;
  /** Receives a warning when the tokenizer cannot be converted (the folder keeps tokenizer.bin only). */
  readonly warn?: (message: string) => void;
  /**
   * Where the tokenizer used was read from. When it is the input folder's own, the folder's
   * `tokenizer.bin` is carried too (tensor-io's `sideFiles` skips `*.bin` as weights), so a folder
   * written from a written folder keeps both tokenizer forms.
   */
  readonly tokenizerPath?: string;
}

async function bytesOf(f: SideFile): Promise<Uint8Array> {
  return typeof f.data === "function" ? await f.data() : f.data;
}

/**
 * `tokenizer.json` (Hugging Face tokenizers format, `@mama-prune/model`'s `llama2cTokenizerJson`) and
 * `tokenizer_config.json` (`llama2cTokenizerConfig(context)`) equivalent to a llama2.c tokenizer.bin.
 *
 * @throws PruneError TOKENIZER_INVALID when the vocabulary cannot be written as a tokenizer.json.
 */
export async function llama2cTokenizerSideFiles(
  tokenizerBin: Uint8Array,
  modelConfig: Readonly<Record<string, unknown>>,
): Promise<SideFile[]> {
  const cfg = parseLlamaConfig(modelConfig, "model config");
  const json = llama2cTokenizerJson(readLlama2cTokenizer(tokenizerBin, cfg.vocabSize, "tokenizer.bin"));
  const enc = new TextEncoder();
  return [
    { file: "tokenizer.json", data: enc.encode(`${JSON.stringify(json)}\n`) },
    {
      file: "tokenizer_config.json",
      data: enc.encode(`${JSON.stringify(llama2cTokenizerConfig(cfg.maxPositionEmbeddings), null, 2)}\n`),
    },
  ];
}

/**
 * The side files of a written folder: when the input is a Hugging Face folder, every non-weight file
 * of it (tensor-io's `sideFiles`: generation_config.json, special_tokens_map.json, tokenizer files,
 * …; not config.json, weights or the index), merged with the tokenizer's files — the tokenizer
 * actually used wins a name clash (an explicit `--tokenizer` replaces the folder's). When that
 * tokenizer is a llama2.c `tokenizer.bin` and `options.modelConfig` is given, an equivalent
 * `tokenizer.json` + `tokenizer_config.json` are added (replacing the folder's, which described
 * another tokenizer), so Hugging Face tooling and transformers.js load the folder; a vocabulary that
 * cannot be converted gives a warning and tokenizer.bin only. The input's own `pruning.json` /
 * `training.json` are not copied: the output gets its own.
 *
 * @example
 * await outputSideFiles("models/llama", tok.sideFiles); // [generation_config.json, tokenizer.json, …]
 */
export async function outputSideFiles(
  modelPath: string,
  tokenizerFiles: readonly SideFile[],
  options: OutputSideFilesOptions = {},
): Promise<SideFile[]> {
  const byName = new Map<string, SideFile>();
  if ((await stat(modelPath).catch(() => null))?.isDirectory() === true) {
    for (const f of await sideFiles(await openCheckpointDir(modelPath))) byName.set(f.file, f);
    const bin = join(modelPath, "tokenizer.bin");
    if (
      options.tokenizerPath !== undefined &&
      resolve(dirname(options.tokenizerPath)) === resolve(modelPath) &&
      (await stat(bin).catch(() => null))?.isFile() === true
    ) {
      byName.set("tokenizer.bin", {
        file: "tokenizer.bin",
        data: async () => new Uint8Array(await readFile(bin)),
      });
    }
  }
  for (const f of tokenizerFiles) byName.set(f.file, f);
  const bin = tokenizerFiles.find((f) => f.file === "tokenizer.bin");
  if (bin !== undefined && options.modelConfig !== undefined) {
    try {
      for (const f of await llama2cTokenizerSideFiles(await bytesOf(bin), options.modelConfig)) {
        byName.set(f.file, f);
      }
    } catch (e) {
      options.warn?.(
        `tokenizer.bin: no tokenizer.json written (${escapeUntrusted(e instanceof Error ? e.message : String(e), 200)}).`,
      );
    }
  }
  byName.delete(PROVENANCE_FILE);
  byName.delete(TRAINING_PROVENANCE_FILE);
  return [...byName.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}
