// Shared setup of the bundled-model experiments: model, tokenizer, text and its evaluation /
// calibration split (the same protocol as examples/reproduce-table2).
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type LlamaParams, paramsFromCheckpoint } from "@mama-prune/distill";
import { createLlama2cTokenizer, type Tokenizer } from "@mama-prune/model";
import { type CalibrationSplit, splitCalibrationText } from "@mama-prune/pipeline";
import type { Checkpoint } from "@mama-prune/tensor-io";
import { readLlama2cFile, readLlama2cTokenizerFile } from "@mama-prune/tensor-io/node";

export const ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "../../..");
export const MODEL_PATH: string = join(ROOT, "data/stories260K/stories260K.bin");
export const TOKENIZER_PATH: string = join(ROOT, "data/stories260K/tok512.bin");
export const TEXT_PATH: string = join(ROOT, "data/tinystories/tinystories_val.txt");
export const RESULTS: string = join(ROOT, "results");
export const OUT: string = join(ROOT, "out");

export interface Bundled {
  readonly checkpoint: Checkpoint;
  readonly params: LlamaParams;
  readonly tokenizer: Tokenizer;
  readonly text: string;
  readonly split: CalibrationSplit;
}

export async function loadBundled(): Promise<Bundled> {
  const checkpoint = await readLlama2cFile(MODEL_PATH);
  const params = await paramsFromCheckpoint(checkpoint);
  const tokenizer = createLlama2cTokenizer(await readLlama2cTokenizerFile(TOKENIZER_PATH, 512));
  const text = await readFile(TEXT_PATH, "utf8");
  return { checkpoint, params, tokenizer, text, split: splitCalibrationText(text) };
}

/** Paragraphs of `text` (split on blank lines) that use `word` as a whole word. */
export function paragraphsWith(text: string, word: string): string[] {
  const re = new RegExp(`\\b${word}\\b`, "i");
  return text.split("\n\n").filter((p) => p.trim().length > 0 && re.test(p));
}

/** Encode paragraphs as one stream, each story starting with BOS (as the model was trained). */
export function encodeStories(tokenizer: Tokenizer, paragraphs: readonly string[]): Int32Array {
  const out: number[] = [];
  for (const p of paragraphs) out.push(...tokenizer.encode(p, { bos: true }));
  return Int32Array.from(out);
}
