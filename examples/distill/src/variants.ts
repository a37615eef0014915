// MAMA's variants at 50 % and 70 % on the bundled model, each on the same evaluation text:
// magnitude only → + activations → + movement from SFT / from GRPO (pruning the post-trained model,
// W⁰ = stories260K) → + reward-weighted calibration (generated, verified windows; with its
// uniform-weight control) → + redistribution (= MAMA's defaults) → + distill.
// Needs the SFT and GRPO checkpoints: run `npm run sft` and `npm run grpo -- park 40 0.0001` first.
//   npm run variants -w @mama-prune-examples/distill [-- distillSteps]
import { access, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  containsWordVerifier,
  distill,
  paramsToModel,
  rewardWeightedCalibration,
  sparsityOf,
  withLinearsFrom,
} from "@mama-prune/distill";
import { perplexity } from "@mama-prune/eval";
import { type LlamaModel, loadLlama } from "@mama-prune/model";
import {
  type CalibrationInput,
  calibrationWindows,
  evaluationProtocol,
  MAMA_PIPELINE_DEFAULTS,
  type PruneOptions,
  prune,
} from "@mama-prune/pipeline";
import type { Checkpoint } from "@mama-prune/tensor-io";
import { readHfCheckpointFolder } from "@mama-prune/tensor-io/node";
import { loadBundled, OUT, RESULTS } from "./common.ts";

const distillSteps = Number(process.argv[2] ?? 100);
const levels = [0.5, 0.7];
const t0 = performance.now();
const { checkpoint: base, params: dense, tokenizer, split } = await loadBundled();
const open = async (dir: string): Promise<Checkpoint> => {
  try {
    await access(join(dir, "config.json"));
  } catch {
    throw new Error(`${dir} is missing: run the SFT and GRPO examples first (see the header of variants.ts)`);
  }
  return readHfCheckpointFolder(dir);
};
const sftCkpt = await open(join(OUT, "stories260K-sft-park"));
const grpoCkpt = await open(join(OUT, "stories260K-grpo-park-lr0.0001"));
const cal = calibrationWindows(tokenizer.encode(split.calibration, { bos: false }), {
  nsamples: 16,
  seqlen: 256,
  seed: 0,
});
const evalOpts = { seqlen: 256, maxWindows: 16, datasetName: "tinystories_val.txt (evaluation split)" };
const evaluate = async (m: LlamaModel) => perplexity(m, tokenizer, split.evaluation, evalOpts);

// Generated, verified calibration windows (prompts never drawn from the evaluation text).
const rewardCal = await rewardWeightedCalibration({
  model: await loadLlama(base),
  tokenizer,
  prompts: [
    "Once upon a time",
    "One day",
    "Lily and her mom",
    "Tom was a little boy who",
    "The sun was shining and",
    "There was a big dog",
    "Sam liked to",
    "In a small house",
  ],
  verifier: containsWordVerifier("park"),
  seqlen: 128,
  groupSize: 8,
  seed: 0,
});
console.log(rewardCal.protocol);
const genCal: CalibrationInput = {
  tokens: rewardCal.tokens,
  nsamples: rewardCal.nsamples,
  seqlen: rewardCal.seqlen,
  protocol: rewardCal.protocol,
};
const activations = { ...MAMA_PIPELINE_DEFAULTS.scorer, useMovement: false };
const withMovement = { ...MAMA_PIPELINE_DEFAULTS.scorer, useMovement: true };

interface Variant {
  readonly name: string;
  readonly model: string;
  readonly options: Omit<PruneOptions, "sparsity">;
  readonly distill?: boolean;
}
const variants: Variant[] = [
  {
    name: "magnitude only",
    model: "stories260K",
    options: {
      checkpoint: base,
      method: "mama",
      calibration: cal,
      mama: {
        magnitudeWeight: 1,
        activationWeight: 0,
        useActivations: false,
        normalize: "rank",
        group: "row",
      },
      redistribution: "none",
    },
  },
  {
    name: "+ activations (Wanda-like term)",
    model: "stories260K",
    options: {
      checkpoint: base,
      method: "mama",
      calibration: cal,
      mama: activations,
      redistribution: "none",
    },
  },
  {
    name: "SFT model, activations only (control for the next row)",
    model: "SFT (park)",
    options: {
      checkpoint: sftCkpt,
      method: "mama",
      calibration: cal,
      mama: activations,
      redistribution: "none",
    },
  },
  {
    name: "+ movement from SFT (prunes the SFT model)",
    model: "SFT (park)",
    options: {
      checkpoint: sftCkpt,
      preCheckpoint: base,
      method: "mama",
      calibration: cal,
      mama: withMovement,
      redistribution: "none",
    },
  },
  {
    name: "GRPO model, activations only (control for the next row)",
    model: "GRPO (park, lr 1e-4)",
    options: {
      checkpoint: grpoCkpt,
      method: "mama",
      calibration: cal,
      mama: activations,
      redistribution: "none",
    },
  },
  {
    name: "+ movement from GRPO (prunes the GRPO model)",
    model: "GRPO (park, lr 1e-4)",
    options: {
      checkpoint: grpoCkpt,
      preCheckpoint: base,
      method: "mama",
      calibration: cal,
      mama: withMovement,
      redistribution: "none",
    },
  },
  {
    name: "generated calibration, uniform weights (control)",
    model: "stories260K",
    options: {
      checkpoint: base,
      method: "mama",
      calibration: genCal,
      mama: activations,
      redistribution: "none",
    },
  },
  {
    name: "+ reward-weighted calibration (generated, verified)",
    model: "stories260K",
    options: {
      checkpoint: base,
      method: "mama",
      calibration: genCal,
      sampleWeights: rewardCal.sampleWeights,
      mama: { ...activations, useSampleWeights: true },
      redistribution: "none",
    },
  },
  {
    name: "+ redistribution (MAMA defaults)",
    model: "stories260K",
    options: { checkpoint: base, method: "mama", calibration: cal },
  },
  {
    name: "+ distill",
    model: "stories260K",
    options: { checkpoint: base, method: "mama", calibration: cal },
    distill: true,
  },
];

const denseOf = new Map<string, number>();
for (const [label, ck] of [
  ["stories260K", base],
  ["SFT (park)", sftCkpt],
  ["GRPO (park, lr 1e-4)", grpoCkpt],
] as const) {
  denseOf.set(label, (await evaluate(await loadLlama(ck))).ppl);
}
const rows: {
  name: string;
  model: string;
  dense: number;
  ppl: Record<string, number>;
  sparsity: Record<string, number>;
}[] = [];
let distillProtocol = "";
let evalProtocol = "";
for (const v of variants) {
  const row = {
    name: v.name,
    model: v.model,
    dense: denseOf.get(v.model)!,
    ppl: {} as Record<string, number>,
    sparsity: {} as Record<string, number>,
  };
  for (const level of levels) {
    const { model, report } = await prune({ ...v.options, sparsity: level });
    let m = model;
    if (v.distill) {
      const student = withLinearsFrom(dense, model);
      const rep = await distill({
        student,
        teacher: dense,
        tokens: tokenizer.encode(split.calibration, { bos: true }),
        steps: distillSteps,
        lr: 1e-3,
        seqLen: 128,
        batch: 4,
        temperature: 2,
        alpha: 0.1,
        seed: 0,
        warmupSteps: 10,
      });
      distillProtocol = rep.protocol;
      row.sparsity[String(level)] = sparsityOf(student);
      m = await paramsToModel(student);
    } else {
      row.sparsity[String(level)] = report.overallSparsity;
    }
    const e = await evaluate(m);
    evalProtocol = evaluationProtocol(e);
    row.ppl[String(level)] = e.ppl;
    console.log(`${v.name.padEnd(52)} ${level} ppl ${e.ppl.toFixed(3)} (dense ${row.dense.toFixed(3)})`);
  }
  rows.push(row);
}
const wallS = (performance.now() - t0) / 1000;
const fmt = (x: number) => x.toFixed(3);
const md = [
  "# MAMA's variants on stories260K (perplexity on the evaluation split)",
  "",
  `Command: \`npm run variants -w @mama-prune-examples/distill -- ${distillSteps}\` (after \`npm run sft\` and \`npm run grpo -- park 40 0.0001\`)`,
  "",
  `Protocol: evaluation: ${evalProtocol} | split: ${split.protocol} | split calibration: ${cal.protocol} | generated calibration: ${rewardCal.protocol} | movement rows prune the post-trained model with W⁰ = stories260K (MAMA movement weight ${MAMA_PIPELINE_DEFAULTS.scorer.movementWeight}) and are compared with that model's own dense perplexity | distillation: ${distillProtocol} | wall time ${wallS.toFixed(0)} s`,
  "",
  "| variant | pruned model | dense ppl | 50 % | 70 % |",
  "|---|---|---:|---:|---:|",
  ...rows.map(
    (r) => `| ${r.name} | ${r.model} | ${fmt(r.dense)} | ${fmt(r.ppl["0.5"]!)} | ${fmt(r.ppl["0.7"]!)} |`,
  ),
  "",
].join("\n");
await mkdir(RESULTS, { recursive: true });
await writeFile(join(RESULTS, "mama-variants.md"), md);
await writeFile(
  join(RESULTS, "mama-variants.json"),
  `${JSON.stringify({ rows, levels, distillSteps, wallS }, null, 2)}\n`,
);
console.log(md);
