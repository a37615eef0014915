// SFT on the bundled model: fine-tune stories260K on the stories of the CALIBRATION split that use
// a given word (a distinct style), write the post-trained checkpoint (a pre/post pair for MAMA's
// movement term) and a small results file.
//   npm run sft -w @mama-prune-examples/distill [-- word steps lr]
import { mkdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { cloneParams, paramsToModel, sft } from "@mama-prune/distill";
import { writeParamsFolder } from "@mama-prune/distill/node";
import { perplexity } from "@mama-prune/eval";
import { generate, type LlamaModel } from "@mama-prune/model";
import { encodeStories, loadBundled, OUT, paragraphsWith, RESULTS, ROOT } from "./common.ts";

const word = process.argv[2] ?? "park";
const steps = Number(process.argv[3] ?? 20);
const lr = Number(process.argv[4] ?? 5e-4);
const { params, tokenizer, split } = await loadBundled();
const stories = paragraphsWith(split.calibration, word);
const tokens = encodeStories(tokenizer, stories);
console.log(`${stories.length} calibration-split stories use "${word}": ${tokens.length} tokens`);

const usesWord = async (model: LlamaModel): Promise<number> => {
  const re = new RegExp(`\\b${word}\\b`, "i");
  let hits = 0;
  for (let s = 0; s < 32; s++) {
    const r = await generate(model, tokenizer, "Once upon a time", {
      maxNewTokens: 64,
      temperature: 1,
      topP: 0.95,
      seed: 1000 + s,
    });
    if (re.test(r.completion)) hits++;
  }
  return hits / 32;
};
const evalOpts = { seqlen: 256, maxWindows: 16, datasetName: "tinystories_val.txt (evaluation split)" };
const pre = cloneParams(params);
const preModel = await paramsToModel(pre);
const before = {
  evalPpl: (await perplexity(preModel, tokenizer, split.evaluation, evalOpts)).ppl,
  wordRate: await usesWord(preModel),
};
console.log("before", before);
const report = await sft(params, tokens, {
  steps,
  lr,
  seqLen: 128,
  batch: 4,
  seed: 0,
  warmupSteps: 5,
  onProgress: (p) => {
    if (p.step % 10 === 0)
      console.log(
        `step ${p.step} loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(2)} ${(p.elapsedMs / 1000).toFixed(0)} s`,
      );
  },
});
const postModel = await paramsToModel(params);
const after = {
  evalPpl: (await perplexity(postModel, tokenizer, split.evaluation, evalOpts)).ppl,
  wordRate: await usesWord(postModel),
};
console.log("after", after);
const dir = join(OUT, `stories260K-sft-${word}`);
await writeParamsFolder(dir, params, {
  overwrite: true,
  configExtra: { mama_prune_training: { kind: "sft", word, protocol: report.protocol } },
});
await mkdir(RESULTS, { recursive: true });
const result = {
  experiment: `SFT of stories260K on calibration-split stories using "${word}"`,
  command: `npm run sft -w @mama-prune-examples/distill -- ${word} ${steps} ${lr}`,
  trainingText: `${stories.length} paragraphs of the calibration split (pipeline splitCalibrationText, fraction 0.15) containing "${word}", ${tokens.length} tokens, BOS per story`,
  protocol: report.protocol,
  evaluation: `perplexity on the evaluation split: seqlen 256, 16 windows; word rate: 32 samples of 64 tokens from "Once upon a time", temperature 1, top-p 0.95, seeds 1000..1031`,
  before,
  after,
  lossFirst10: report.losses.slice(0, 10).reduce((a, b) => a + b, 0) / 10,
  lossLast10: report.losses.slice(-10).reduce((a, b) => a + b, 0) / 10,
  tokensPerSecond: report.tokensPerSecond,
  checkpoint: relative(ROOT, dir),
};
await writeFile(join(RESULTS, `distill-sft-${word}.json`), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
