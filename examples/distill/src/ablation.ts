// Is the teacher needed? Recover MAMA-pruned stories260K (50 % and 70 %) with the same budget
// three ways: next-token cross-entropy only (α = 1), distillation at T = 1 (α = 0), and the
// Table 2 setting (T = 2, α = 0.1). Writes results/distill-ablation.{md,json}.
//   npm run ablation -w @mama-prune-examples/distill [-- steps]
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { distill, paramsToModel, withLinearsFrom } from "@mama-prune/distill";
import { perplexity } from "@mama-prune/eval";
import { calibrationWindows, prune } from "@mama-prune/pipeline";
import { loadBundled, RESULTS } from "./common.ts";

const steps = Number(process.argv[2] ?? 100);
const { checkpoint, params: dense, tokenizer, split } = await loadBundled();
const cal = calibrationWindows(tokenizer.encode(split.calibration, { bos: false }), {
  nsamples: 16,
  seqlen: 256,
  seed: 0,
});
const tokens = tokenizer.encode(split.calibration, { bos: true });
const evalOpts = { seqlen: 256, maxWindows: 16, datasetName: "tinystories_val.txt (evaluation split)" };
const settings = [
  { name: "cross-entropy only (α = 1)", temperature: 1, alpha: 1 },
  { name: "distillation T = 1 (α = 0)", temperature: 1, alpha: 0 },
  { name: "distillation T = 2, α = 0.1 (Table 2)", temperature: 2, alpha: 0.1 },
];
const rows: { level: number; name: string; pruned: number; recovered: number }[] = [];
let protocol = "";
for (const level of [0.5, 0.7]) {
  const { model } = await prune({ checkpoint, method: "mama", sparsity: level, calibration: cal });
  const pruned = (await perplexity(model, tokenizer, split.evaluation, evalOpts)).ppl;
  for (const s of settings) {
    const student = withLinearsFrom(dense, model);
    const rep = await distill({
      student,
      teacher: dense,
      tokens,
      steps,
      lr: 1e-3,
      seqLen: 128,
      batch: 4,
      seed: 0,
      warmupSteps: 10,
      temperature: s.temperature,
      alpha: s.alpha,
    });
    protocol = rep.protocol.replace(/; temperature .*$/, "");
    const recovered = (await perplexity(await paramsToModel(student), tokenizer, split.evaluation, evalOpts))
      .ppl;
    rows.push({ level, name: s.name, pruned, recovered });
    console.log(`${level} ${s.name.padEnd(40)} ${pruned.toFixed(3)} → ${recovered.toFixed(3)}`);
  }
}
const md = [
  "# Recovery after MAMA pruning: cross-entropy vs distillation (stories260K, evaluation-split perplexity)",
  "",
  `Command: \`npm run ablation -w @mama-prune-examples/distill -- ${steps}\``,
  "",
  `Protocol: same split, calibration, evaluation (16 windows × 256) and training text (calibration split) as results/table2-distill.md; ${protocol}; the teacher is the dense model.`,
  "",
  "| level | recovery | pruned ppl | after ppl |",
  "|---|---|---:|---:|",
  ...rows.map((r) => `| ${r.level} | ${r.name} | ${r.pruned.toFixed(3)} | ${r.recovered.toFixed(3)} |`),
  "",
].join("\n");
await mkdir(RESULTS, { recursive: true });
await writeFile(join(RESULTS, "distill-ablation.md"), md);
await writeFile(
  join(RESULTS, "distill-ablation.json"),
  `${JSON.stringify({ steps, rows, protocol }, null, 2)}\n`,
);
console.log(md);
