// GRPO on the bundled model: reward 1 when the story uses a given word (verifier plugin
// containsWordVerifier), group-normalised advantages, k3 KL to the frozen start model. Logs the
// reward per step, measures the reward on held-out seeds before/after, writes the post-trained
// checkpoint and results/distill-grpo-<word>-lr<lr>.json.
//   npm run grpo -w @mama-prune-examples/distill [-- word steps lr]
import { mkdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { cloneParams, containsWordVerifier, grpo, paramsToModel } from "@mama-prune/distill";
import { writeParamsFolder } from "@mama-prune/distill/node";
import { perplexity } from "@mama-prune/eval";
import { generate, type LlamaModel } from "@mama-prune/model";
import { loadBundled, OUT, RESULTS, ROOT } from "./common.ts";

const word = process.argv[2] ?? "park";
const steps = Number(process.argv[3] ?? 40);
const lr = Number(process.argv[4] ?? 1e-3);
const { params, tokenizer, split } = await loadBundled();
const verifier = containsWordVerifier(word);
const prompts = [
  "Once upon a time",
  "One day",
  "Lily and her mom",
  "Tom was a little boy who",
  "The sun was shining and",
];
const heldOutPrompt = "Once upon a time, there was a girl named Sue.";

/** Held-out reward: 48 samples of 48 tokens from a prompt never used in training, fixed seeds. */
const heldOutReward = async (model: LlamaModel): Promise<number> => {
  let sum = 0;
  for (let s = 0; s < 48; s++) {
    const r = await generate(model, tokenizer, heldOutPrompt, {
      maxNewTokens: 48,
      temperature: 1,
      topP: 0.95,
      seed: 5000 + s,
    });
    sum += await verifier.verify(heldOutPrompt, r.completion);
  }
  return sum / 48;
};
const evalOpts = { seqlen: 256, maxWindows: 16, datasetName: "tinystories_val.txt (evaluation split)" };
const startModel = await paramsToModel(cloneParams(params));
const before = {
  heldOutReward: await heldOutReward(startModel),
  evalPpl: (await perplexity(startModel, tokenizer, split.evaluation, evalOpts)).ppl,
};
console.log("before", before);
const report = await grpo({
  policy: params,
  tokenizer,
  prompts,
  verifier,
  steps,
  groupSize: 8,
  promptsPerStep: 2,
  maxNewTokens: 48,
  temperature: 1,
  topP: 0.95,
  lr,
  beta: 0.04,
  seed: 0,
  onProgress: (p) =>
    console.log(
      `step ${p.step} reward ${p.rewardMean.toFixed(3)} kl ${p.kl.toExponential(2)} |g| ${p.gradNorm.toFixed(3)} ${(p.elapsedMs / 1000).toFixed(0)} s`,
    ),
});
const endModel = await paramsToModel(params);
const after = {
  heldOutReward: await heldOutReward(endModel),
  evalPpl: (await perplexity(endModel, tokenizer, split.evaluation, evalOpts)).ppl,
};
console.log("after", after);
const dir = join(OUT, `stories260K-grpo-${word}-lr${lr}`);
await writeParamsFolder(dir, params, {
  overwrite: true,
  configExtra: { mama_prune_training: { kind: "grpo", verifier: verifier.name, protocol: report.protocol } },
});
const mean = (a: readonly number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
const result = {
  experiment: `GRPO of stories260K: the story must use "${word}"`,
  command: `npm run grpo -w @mama-prune-examples/distill -- ${word} ${steps} ${lr}`,
  prompts,
  protocol: report.protocol,
  evaluation: `held-out reward: 48 samples × 48 tokens from "${heldOutPrompt}" (not a training prompt), temperature 1, top-p 0.95, seeds 5000..5047; perplexity on the evaluation split, seqlen 256, 16 windows`,
  before,
  after,
  trainingRewardFirst10: mean(report.rewards.slice(0, 10)),
  trainingRewardLast10: mean(report.rewards.slice(-10)),
  rewardPerStep: report.rewards.map((r) => Number(r.toFixed(4))),
  klPerStep: report.kls.map((k) => Number(k.toExponential(3))),
  wallTimeS: Number((report.elapsedMs / 1000).toFixed(1)),
  checkpoint: relative(ROOT, dir),
};
await mkdir(RESULTS, { recursive: true });
await writeFile(join(RESULTS, `distill-grpo-${word}-lr${lr}.json`), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ ...result, rewardPerStep: undefined, klPerStep: undefined }, null, 2));
