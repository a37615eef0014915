// Wall-time benchmark of the built-in scorers and of mask selection on Linear shapes [out, in].
// Run: npm run bench (tsx; `-- --quick` for one small shape). Writes bench-results/scoring.json and
// scoring.md next to this package. Node-only script (fs, os); not part of the library.

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { createRng, SILENT_LOGGER } from "@mama-prune/core";
import {
  magnitude,
  mama,
  movement,
  ria,
  type ScoreContext,
  type ScorerPlugin,
  type SelectMaskOptions,
  selectMask,
  wanda,
} from "../src/index.ts";

interface Row {
  readonly op: string;
  readonly shape: string;
  readonly ms: number;
  readonly nsPerWeight: number;
  readonly repeats: number;
}

const quick = process.argv.includes("--quick");
const shapes: [number, number][] = quick
  ? [[256, 256]]
  : [
      [64, 64], // stories260K q/k/v/o
      [1024, 1024],
      [2816, 1024], // a realistic-shape up/gate projection, scaled down
    ];

function time(fn: () => void, minMs = 300): { ms: number; repeats: number } {
  fn(); // warm-up
  let repeats = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs || repeats < 2) {
    fn();
    repeats++;
    t = performance.now();
  }
  return { ms: (t - t0) / repeats, repeats };
}

const rows: Row[] = [];
for (const [r, c] of shapes) {
  const rng = createRng(r * 7 + c);
  const w = Float32Array.from({ length: r * c }, () => rng.normal()); // (r, c)
  const ctx: ScoreContext = {
    name: `bench.${r}x${c}.weight`,
    weight: { rows: r, cols: c, data: w },
    activationNorms: Float32Array.from({ length: c }, () => Math.abs(rng.normal())), // (c,)
    preWeight: { rows: r, cols: c, data: w.map((x) => x + rng.normal() * 0.1) }, // (r, c)
    log: SILENT_LOGGER,
  };
  const shape = `${r}x${c}`;
  const scorers: ScorerPlugin[] = [
    magnitude(),
    wanda(),
    movement(),
    ria(),
    mama(),
    mama({ useMovement: true }),
    mama({ normalize: "zscore" }),
  ];
  for (const p of scorers) {
    const { ms, repeats } = time(() => void p.score(ctx));
    rows.push({
      op: `score ${p.name} [${p.requires.join(",")}]`,
      shape,
      ms,
      nsPerWeight: (ms * 1e6) / (r * c),
      repeats,
    });
  }
  const scores = wanda().score(ctx) as Float32Array;
  const selections: [string, SelectMaskOptions][] = [
    ["selectMask matrix 0.5", { sparsity: 0.5, group: "matrix" }],
    ["selectMask row 0.5", { sparsity: 0.5, group: "row" }],
    ["selectMask block128 0.5", { sparsity: 0.5, group: "block" }],
    ["selectMask 2:4", { sparsity: { n: 2, m: 4 }, group: "n:m" }],
  ];
  for (const [op, opts] of selections) {
    const { ms, repeats } = time(() => void selectMask(scores, r, c, opts));
    rows.push({ op, shape, ms, nsPerWeight: (ms * 1e6) / (r * c), repeats });
  }
}

const env = `Node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} logical cores, shared), single thread`;
const md = [
  "# @mama-prune/scoring benchmark",
  "",
  `${env}. Mean wall time per call after one warm-up; Wanda scores feed the mask selections.`,
  "",
  "| op | shape | ms | ns / weight | repeats |",
  "| --- | --- | ---: | ---: | ---: |",
  ...rows.map(
    (x) => `| ${x.op} | ${x.shape} | ${x.ms.toFixed(2)} | ${x.nsPerWeight.toFixed(1)} | ${x.repeats} |`,
  ),
  "",
].join("\n");
const outDir = new URL("../bench-results/", import.meta.url);
mkdirSync(outDir, { recursive: true });
writeFileSync(new URL("scoring.json", outDir), `${JSON.stringify({ env, quick, rows }, null, 2)}\n`);
writeFileSync(new URL("scoring.md", outDir), md);
process.stdout.write(md);
