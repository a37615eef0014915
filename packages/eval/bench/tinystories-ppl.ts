// Full-text perplexity of the bundled stories260K on the bundled TinyStories text, with timing.
// Run: cd packages/eval && npx tsx --conditions @mama-prune/source bench/tinystories-ppl.ts [seqlen] [maxWindows]
// Writes bench-results/tinystories-ppl.json (ignored by git) and prints the protocol line.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { sha256Hex } from "@mama-prune/core";
import { createLlama2cTokenizer, loadLlama } from "@mama-prune/model";
import { readLlama2c, readLlama2cTokenizer } from "@mama-prune/tensor-io";
import { loadEvalText, perplexity } from "../src/index.ts";

const root = new URL("../../../", import.meta.url);
const seqlen = Number(process.argv[2] ?? 256);
const maxWindows = process.argv[3] === undefined ? undefined : Number(process.argv[3]);

const modelBytes = new Uint8Array(await readFile(new URL("data/stories260K/stories260K.bin", root)));
const model = await loadLlama(await readLlama2c(modelBytes, "stories260K.bin"));
const tokenizer = createLlama2cTokenizer(
  readLlama2cTokenizer(new Uint8Array(await readFile(new URL("data/stories260K/tok512.bin", root))), 512),
);
const text = loadEvalText(await readFile(new URL("data/tinystories/tinystories_val.txt", root), "utf8"), {
  format: "plain",
});
const t0 = performance.now();
const result = await perplexity(model, tokenizer, text, {
  seqlen,
  ...(maxWindows === undefined ? {} : { maxWindows }),
  datasetName: "tinystories_val.txt",
  modelChecksum: await sha256Hex(modelBytes),
  backendName: "cpu (@mama-prune/model default)",
  onProgress: (done, total) => {
    if (done % 100 === 0 || done === total) process.stderr.write(`\r${done}/${total} windows`);
  },
});
const seconds = (performance.now() - t0) / 1000;
process.stderr.write("\n");
const tokensPerSecond = (result.windows * seqlen) / seconds;
console.log(result.protocol);
console.log(`forward tokens/s (incl. tokenization): ${tokensPerSecond.toFixed(0)}`);
await mkdir(new URL("../bench-results/", import.meta.url), { recursive: true });
await writeFile(
  new URL("../bench-results/tinystories-ppl.json", import.meta.url),
  `${JSON.stringify({ ...result, tokensPerSecond, date: new Date().toISOString() }, null, 2)}\n`,
);
