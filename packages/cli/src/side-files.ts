// ---- Files carried from the input folder into a pruned folder ----

import { stat } from "node:fs/promises";
import { type SideFile, sideFiles } from "@mama-prune/tensor-io";
import { openCheckpointDir } from "@mama-prune/tensor-io/node";
import { PROVENANCE_FILE } from "./provenance.ts";

/**
 * The side files of a pruned folder: when the input is a Hugging Face folder, every non-weight file
 * of it (tensor-io's `sideFiles`: generation_config.json, special_tokens_map.json, tokenizer files,
 * …; not config.json, weights or the index), merged with the tokenizer's files — the tokenizer
 * actually used wins a name clash (an explicit `--tokenizer` replaces the folder's). The input's own
 * `pruning.json` is not copied: the output gets its own.
 *
 * @example
 * await outputSideFiles("models/llama", tok.sideFiles); // [generation_config.json, tokenizer.json, …]
 */
export async function outputSideFiles(
  modelPath: string,
  tokenizerFiles: readonly SideFile[],
): Promise<SideFile[]> {
  const byName = new Map<string, SideFile>();
  if ((await stat(modelPath).catch(() => null))?.isDirectory() === true) {
    for (const f of await sideFiles(await openCheckpointDir(modelPath))) byName.set(f.file, f);
  }
  for (const f of tokenizerFiles) byName.set(f.file, f);
  byName.delete(PROVENANCE_FILE);
  return [...byName.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}
