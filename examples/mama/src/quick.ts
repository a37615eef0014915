// Quick calibration-side probe (development aid): npx tsx --conditions @mama-prune/source src/quick.ts
import type { MamaMethodOptions } from "@mama-prune/pipeline";
import { anchorColumns, cell, MODELS, mamaColumn, runSweep, SPARSEGPT_MASK_SWAP_REFIT } from "./common.ts";

const cands: [string, MamaMethodOptions][] = JSON.parse(process.argv[2] ?? "[]");
const model = MODELS.find((m) => m.id === (process.argv[3] ?? "stories260K"))!;
const levels = JSON.parse(process.argv[4] ?? '[0.7, {"n":2,"m":4}]');
const withAnchors = process.argv[5] === "anchors";
const t0 = performance.now();
const r = await runSweep(
  model,
  [
    ...(withAnchors ? anchorColumns().slice(2) : []),
    ...(process.argv[6] === "sgswap"
      ? [{ label: "SparseGPT mask + swap + refit", options: { method: SPARSEGPT_MASK_SWAP_REFIT } }]
      : []),
    ...cands.map(([l, o]) => mamaColumn(l, o)),
  ],
  levels,
  "tuning",
  "quick",
  [0, 1],
);
for (const c of r.table.columns) {
  console.log(
    c.padEnd(40),
    r.table.levels
      .filter((l) => l !== "0")
      .map((l) => `${cell(r, c, l).mean.toFixed(2)} ± ${cell(r, c, l).sd.toFixed(2)}`)
      .join("  "),
  );
}
console.log(`wall ${((performance.now() - t0) / 1000).toFixed(1)} s`);
