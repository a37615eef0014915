// The main job on the bundled model (`npm run demo` at the repository root): load the real pretrained
// stories260K checkpoint, show its tensor inventory, generate a story, and measure its perplexity on the
// bundled TinyStories text with the full protocol line.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { sha256Hex } from "@mama-prune/core";
import { perplexity } from "@mama-prune/eval";
import { createLlama2cTokenizer, generate, loadLlama } from "@mama-prune/model";
import { isBlockLinear, readLlama2c, readLlama2cTokenizer } from "@mama-prune/tensor-io";

const dataDir = fileURLToPath(new URL("../../../data/", import.meta.url));

export interface DemoOptions {
  readonly maxWindows: number;
  readonly seqlen: number;
  readonly maxNewTokens: number;
  readonly log: (line: string) => void;
}

export interface DemoResult {
  readonly ppl: number;
  readonly sample: string;
  readonly parameters: number;
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { log } = options;
  const modelBytes = new Uint8Array(await readFile(`${dataDir}stories260K/stories260K.bin`));
  const checkpoint = await readLlama2c(modelBytes);
  const tokenizer = createLlama2cTokenizer(
    readLlama2cTokenizer(new Uint8Array(await readFile(`${dataDir}stories260K/tok512.bin`)), 512),
  );

  log("== stories260K (llama2.c checkpoint, exposed under Hugging Face Llama names)");
  let parameters = 0;
  let prunable = 0;
  for (const t of checkpoint.list()) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    parameters += n;
    if (isBlockLinear(t.name, t.shape)) prunable += n;
  }
  const first = checkpoint.list().slice(0, 10);
  for (const t of first) log(`  ${t.name.padEnd(44)} ${t.dtype} [${t.shape.join(", ")}]`);
  log(
    `  … ${checkpoint.list().length} tensors, ${parameters.toLocaleString("en")} parameters, ${prunable.toLocaleString("en")} in the prunable block linears`,
  );

  const model = await loadLlama(checkpoint);
  const { text: sample } = await generate(model, tokenizer, "Once upon a time", {
    maxNewTokens: options.maxNewTokens,
  });
  log("\n== greedy sample");
  log(`  ${sample.replaceAll("\n", "\n  ")}`);

  const text = await readFile(`${dataDir}tinystories/tinystories_val.txt`, "utf8");
  const r = await perplexity(model, tokenizer, text, {
    seqlen: options.seqlen,
    maxWindows: options.maxWindows,
    datasetName: "tinystories_val.txt",
    modelChecksum: await sha256Hex(modelBytes),
    backendName: model.backend.name,
  });
  log("\n== dense perplexity");
  log(`  ${r.protocol}`);
  return { ppl: r.ppl, sample, parameters };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await runDemo({ maxWindows: 40, seqlen: 256, maxNewTokens: 60, log: (l) => console.log(l) });
}
