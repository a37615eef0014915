// Table 2 + distillation: prune stories260K with Wanda, SparseGPT, magnitude and MAMA at the given
// levels (@mama-prune/pipeline, the protocol of examples/reproduce-table2), then distill every
// pruned model from the dense teacher on the CALIBRATION split (masked: sparsity unchanged) and
// measure perplexity on the EVALUATION split before and after. Writes results/table2-distill.{md,json}.
//   npm run table2 -w @mama-prune-examples/distill [-- steps levels]   e.g. -- 100 0.5,0.7
import { mkdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { distill, paramsToModel, sparsityOf, withLinearsFrom } from "@mama-prune/distill";
import { perplexity } from "@mama-prune/eval";
import type { LlamaModel } from "@mama-prune/model";
import {
  calibrationWindows,
  evaluationProtocol,
  METHOD_LABELS,
  type PruneMethod,
  sweep,
} from "@mama-prune/pipeline";
import { loadBundled, RESULTS, ROOT } from "./common.ts";

const steps = Number(process.argv[2] ?? 100);
const levels = (process.argv[3] ?? "0.5,0.7").split(",").map(Number);
const methods: PruneMethod[] = ["wanda", "sparsegpt", "magnitude", "mama"];
const LABEL = METHOD_LABELS;
const DISTILL = { lr: 1e-3, seqLen: 128, batch: 4, temperature: 2, alpha: 0.1, seed: 0, warmupSteps: 10 };

const t0 = performance.now();
const { checkpoint, params: dense, tokenizer, split } = await loadBundled();
const calTokens = tokenizer.encode(split.calibration, { bos: false });
const cal = calibrationWindows(calTokens, { nsamples: 16, seqlen: 256, seed: 0 });
const distillTokens = tokenizer.encode(split.calibration, { bos: true });
const evalOpts = { seqlen: 256, maxWindows: 16, datasetName: "tinystories_val.txt (evaluation split)" };
const evaluate = async (m: LlamaModel) => perplexity(m, tokenizer, split.evaluation, evalOpts);
const denseEval = await evaluate(await paramsToModel(dense));
console.log(`dense ppl ${denseEval.ppl.toFixed(4)}`);

interface Run {
  method: PruneMethod;
  level: number;
  sparsity: number;
  pplPruned: number;
  pplDistilled: number;
  sparsityAfterDistill: number;
  distillWallS: number;
  klFirst10: number;
  klLast10: number;
}
const runs: Run[] = [];
let distillProtocol = "";
const kl = (a: readonly number[]) => a.reduce((x, y) => x + y, 0) / a.length;
// The pipeline's sweep prunes a fresh copy per (method, level); the evaluate callback measures the pruned
// model, distills it and measures again (the table's value is the pruned perplexity).
await sweep({
  methods,
  levels,
  prune: { checkpoint },
  calibrations: [{ seed: 0, windows: cal }],
  evaluate: async (model, at) => {
    const pplPruned = (await evaluate(model)).ppl;
    const student = withLinearsFrom(dense, model);
    const sparsity = sparsityOf(student);
    const rep = await distill({ student, teacher: dense, tokens: distillTokens, steps, ...DISTILL });
    distillProtocol = rep.protocol;
    const pplDistilled = (await evaluate(await paramsToModel(student))).ppl;
    const method = methods.find((m) => LABEL[m] === at.label)!;
    const level = at.level as number;
    const run: Run = {
      method,
      level,
      sparsity,
      pplPruned,
      pplDistilled,
      sparsityAfterDistill: sparsityOf(student),
      distillWallS: Number((rep.elapsedMs / 1000).toFixed(1)),
      klFirst10: kl(rep.losses.slice(0, 10)),
      klLast10: kl(rep.losses.slice(-10)),
    };
    runs.push(run);
    console.log(
      `${method.padEnd(10)} ${level}  sparsity ${sparsity.toFixed(4)}  ppl ${pplPruned.toFixed(3)} → distilled ${pplDistilled.toFixed(3)} (sparsity after ${run.sparsityAfterDistill.toFixed(4)}, ${run.distillWallS} s)`,
    );
    return pplPruned;
  },
});
const wallS = (performance.now() - t0) / 1000;
const protocol = [
  `model ${relative(ROOT, checkpoint.source)}`,
  `evaluation: ${evaluationProtocol(denseEval)}`,
  `split: ${split.protocol}`,
  `calibration (pruning): ${cal.protocol}, sequential`,
  `distillation: teacher = the dense model, student = the pruned model, trained on the calibration split (${distillTokens.length} tokens, BOS once), never on the evaluation split; ${distillProtocol}`,
  `wall time ${wallS.toFixed(0)} s`,
].join(" | ");
const cols = methods.flatMap((m) => [LABEL[m]!, `${LABEL[m]} + distill`]);
const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : "n/a");
const md = [
  "# Table 2 + distillation: perplexity of the pruned model, before and after distillation",
  "",
  `Command: \`npm run table2 -w @mama-prune-examples/distill -- ${steps} ${levels.join(",")}\``,
  "",
  `Protocol: ${protocol}`,
  "",
  `| Pruning level | ${cols.join(" | ")} |`,
  `|---|${cols.map(() => "---:").join("|")}|`,
  `| 0 | ${cols.map(() => fmt(denseEval.ppl)).join(" | ")} |`,
  ...levels.map(
    (l) =>
      `| ${l} | ${methods
        .flatMap((m) => {
          const r = runs.find((x) => x.method === m && x.level === l)!;
          return [fmt(r.pplPruned), fmt(r.pplDistilled)];
        })
        .join(" | ")} |`,
  ),
  "",
  "Sparsity over the block linears is identical before and after distillation in every run (masked training): " +
    String(runs.every((r) => r.sparsityAfterDistill === r.sparsity)),
  "",
].join("\n");
await mkdir(RESULTS, { recursive: true });
await writeFile(join(RESULTS, "table2-distill.md"), md);
await writeFile(
  join(RESULTS, "table2-distill.json"),
  `${JSON.stringify({ protocol, dense: denseEval.ppl, steps, levels, runs }, null, 2)}\n`,
);
console.log(md);
