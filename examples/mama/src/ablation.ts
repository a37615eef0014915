// The MAMA ablation (issue 13): MAMA at its defaults, minus (or plus) each score term and minus each
// step, at 70 % and 2:4 on stories260K, calibration seeds 0, 1, 2, on the table protocol (evaluation
// split). Movement needs a pre/post pair: its effect is measured on the fine-tuned pair by
// `npm run results` (results/mama-results.md, "Movement").
// Writes results/mama-ablation.{md,csv,json,svg}. Run: npm run ablation -w @mama-prune-examples/mama
import { MAMA_PIPELINE_DEFAULTS, type MamaMethodOptions, sweepReportFiles } from "@mama-prune/pipeline";
import { cell, MODELS, mamaColumn, runSweep, writeResult } from "./common.ts";

const D = MAMA_PIPELINE_DEFAULTS.scorer;
// The defaults use the OBS term alone (results/mama-defaults.md), so the magnitude and activation rows ADD
// their term, and "− OBS saliency" replaces it by the activation term (a score needs one term).
const VARIANTS: [string, MamaMethodOptions][] = [
  ["MAMA (defaults)", {}],
  ["+ magnitude (weight 1)", { magnitudeWeight: 1 }],
  ["+ activation (weight 1)", { activationWeight: 1 }],
  ["− OBS saliency (activation instead)", { obsWeight: 0, activationWeight: 1 }],
  ["− gradual (one-shot mask)", { steps: 1 }],
  ["− swap refine (N:M)", { refine: "none" }],
  ["− channel permutation (N:M)", { permute: "none" }],
  ["− dense target (the layer's own outputs)", { target: "layer" }],
  // The dense target needs the refit: without refit the weights are W ⊙ mask, whatever the target.
  ["− refit", { refit: false, target: "layer" }],
  [
    "− gradual − OBS − swap − permutation − dense target (= Wanda + refit)",
    { steps: 1, obsWeight: 0, activationWeight: 1, refine: "none", permute: "none", target: "layer" },
  ],
];
const r = await runSweep(
  MODELS[0]!,
  VARIANTS.map(([l, o]) => mamaColumn(l, o)),
  [0.7, { n: 2, m: 4 }],
  "evaluation",
  "MAMA ablation on stories260K (perplexity)",
);
for (const f of sweepReportFiles(r, { stem: "mama-ablation", digits: 3 })) {
  if (f.name.endsWith(".md")) {
    const extra = [
      "",
      `MAMA defaults: ${JSON.stringify(D)}. Each row changes one option from the defaults.`,
      "",
      "| variant | 0.7 | vs MAMA | 2:4 | vs MAMA |",
      "|---|---:|---:|---:|---:|",
      ...VARIANTS.map(([l]) => {
        const a = cell(r, l, "0.7");
        const b = cell(r, l, "2:4");
        const ma = cell(r, VARIANTS[0]![0], "0.7");
        const mb = cell(r, VARIANTS[0]![0], "2:4");
        return `| ${l} | ${a.mean.toFixed(2)} ± ${a.sd.toFixed(2)} | ${(100 * (a.mean / ma.mean - 1)).toFixed(1)} % | ${b.mean.toFixed(2)} ± ${b.sd.toFixed(2)} | ${(100 * (b.mean / mb.mean - 1)).toFixed(1)} % |`;
      }),
      "",
    ];
    await writeResult(f.name, f.text + extra.join("\n"));
    console.log(f.text + extra.join("\n"));
  } else await writeResult(f.name, f.text);
}
