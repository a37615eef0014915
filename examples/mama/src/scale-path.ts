// What MAMA's wide path costs in quality (issue 13's scaling work): on the three small models, where
// "auto" runs the exact path on every linear, run both paths forced — the exact path (kept-set OBS
// inverse per row mask, 8 steps, exact refits) and the wide path's pcg solver (`wide: { solver:
// "pcg" }`, pinned: the default before the sweep solver; one factorisation's [H⁻¹]_jj,
// MAMA_WIDE_STEPS steps, PCG warm-started with a small budget on intermediate steps and to full
// tolerance on the last; PCG forced even at these widths; the sweep solver's quality is in
// results/mama-sweep.md) — at 50 %, 70 % and 2:4,
// calibration seeds 0, 1, 2, same protocol as results/mama-results.md. SparseGPT for scale.
// Writes results/mama-scale-path.md. Run: npm run scale-path -w @mama-prune-examples/mama

import { readFile } from "node:fs/promises";
import {
  createMamaMethod,
  MAMA_WIDE_INTERMEDIATE_ITERATIONS,
  MAMA_WIDE_OBS,
  MAMA_WIDE_STEPS,
  type RefitSolver,
  refitKept,
  type SweepLevel,
  type SweepResult,
  sweepMethod,
} from "@mama-prune/pipeline";
import { cell, MODELS, mamaColumn, ROOT, runSweep, SEEDS, writeResult } from "./common.ts";

const LEVELS: readonly SweepLevel[] = [0.5, 0.7, { n: 2, m: 4 }];
const EXACT = "MAMA (exact path)";
const WIDE = "MAMA (wide path)";
// The wide path's default solver since the sweep (what "auto" runs on 1B/7B-width linears).
const SWEEP = "MAMA (wide path, sweep)";

// The PCG refit even where the direct solve is cheap, as on 1B/7B layers.
const pcgAlways: RefitSolver = (w, h, m, o) => refitKept(w, h, m, { ...o, maxDirectMultiplyAdds: 0 });
const wideMethod = createMamaMethod({ refit: pcgAlways, name: "mama-wide", label: WIDE });

const fmt = (c: { mean: number; sd: number }): string => `${c.mean.toFixed(2)} ± ${c.sd.toFixed(2)}`;

/**
 * The best anchor (lowest mean of Wanda + refit, SparseGPT, SparseGPT mask + refit) from the committed
 * main table (same protocol, seeds and calibration windows).
 */
async function bestAnchor(
  model: string,
  level: string,
): Promise<{ label: string; mean: number; sd: number } | undefined> {
  const text = await readFile(`${ROOT}results/mama-results-${model}.json`, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const t = JSON.parse(text) as {
    columns: string[];
    rows: { level: string; values: number[]; spread: (number | null)[] }[];
  };
  const row = t.rows.find((x) => x.level === level);
  if (row === undefined) return undefined;
  let best: { label: string; mean: number; sd: number } | undefined;
  for (const label of ["Wanda + refit", "SparseGPT", "SparseGPT mask + refit"]) {
    const k = t.columns.indexOf(label);
    if (k < 0) continue;
    if (best === undefined || row.values[k]! < best.mean)
      best = { label, mean: row.values[k]!, sd: row.spread[k] ?? 0 };
  }
  return best;
}
const lines: string[] = [];
const protocols: string[] = [];
for (const m of MODELS) {
  const t0 = performance.now();
  const r: SweepResult = await runSweep(
    m,
    [
      sweepMethod("sparsegpt"),
      { ...mamaColumn(EXACT, { path: "exact" }), usePreCheckpoint: false },
      {
        label: WIDE,
        options: { method: wideMethod, methodOptions: { path: "wide", wide: { solver: "pcg" } } },
        usePreCheckpoint: false,
      },
      {
        label: SWEEP,
        options: { method: wideMethod, methodOptions: { path: "wide", wide: { solver: "sweep" } } },
        usePreCheckpoint: false,
      },
    ],
    LEVELS,
    "evaluation",
    `MAMA exact vs wide path on ${m.id} (perplexity)`,
  );
  console.log(`${m.id}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  protocols.push(`- ${m.id}: ${r.protocol}`);
  for (const level of r.table.levels.filter((l) => l !== "0")) {
    const e = cell(r, EXACT, level);
    const w = cell(r, WIDE, level);
    // Paired by seed: the same calibration windows for both paths.
    const rel = SEEDS.map((s) => {
      const pick = (label: string): number =>
        r.rows.find((x) => x.label === label && x.level === level && x.seed === s)!.value;
      return pick(WIDE) / pick(EXACT) - 1;
    });
    const mean = rel.reduce((a, b) => a + b, 0) / rel.length;
    const sd = Math.sqrt(rel.reduce((a, b) => a + (b - mean) ** 2, 0) / (rel.length - 1));
    const paths = new Set(
      r.rows.filter((x) => x.label === WIDE).flatMap((x) => x.report.linears.map((l) => l.mamaPath)),
    );
    if (paths.size !== 1 || !paths.has("wide")) throw new Error(`${m.id}: the wide column ran ${[...paths]}`);
    const wr = await bestAnchor(m.id, level);
    const sw = cell(r, SWEEP, level);
    const vs = (c: { mean: number }): string =>
      wr === undefined ? "–" : `${(100 * (c.mean / wr.mean - 1)).toFixed(1)} %`;
    lines.push(
      `| ${m.id} | ${level} | ${fmt(cell(r, "SparseGPT", level))} | ${wr === undefined ? "–" : `${fmt(wr)} (${wr.label})`} | ${fmt(e)} | ${fmt(w)} | ${fmt(sw)} | ${vs(w)} | ${vs(sw)} | ${(100 * mean).toFixed(1)} % ± ${(100 * sd).toFixed(1)} % | ${rel.map((x) => `${(100 * x).toFixed(1)} %`).join(", ")} |`,
    );
  }
}

const md = [
  "# MAMA's wide path vs its exact path on the small models",
  "",
  "Regenerate: `npm run scale-path -w @mama-prune-examples/mama` (one command).",
  "",
  "`auto` runs the exact path on every linear of these models (widths 64/172/192); on 1B/7B-width",
  "layers it runs the wide path (packages/pipeline/src/mama-wide.ts). Both are forced here on every",
  `linear: **exact** = 8 steps, OBS term w²/[(H_KK + λI)⁻¹]_jj from each row's current kept set, exact refits;`,
  `**wide** (the pcg solver, \`wide: { solver: "pcg" }\`: the wide path's default before the sweep solver, results/mama-sweep.md) = ${MAMA_WIDE_STEPS} steps, OBS term "${MAMA_WIDE_OBS}" (w²/[(H + λI)⁻¹]_jj from one factorisation per linear, scored on the`,
  `current refitted weights), PCG refits (forced even at these widths) warm-started from the previous`,
  `step with ${MAMA_WIDE_INTERMEDIATE_ITERATIONS} iterations on intermediate steps and to full tolerance on the last;`,
  "**wide, sweep** = the wide path's default solver (what `auto` runs on 1B/7B-width linears): SparseGPT's OBS",
  "sweep on MAMA's refit target with MAMA's score inside it, then warm-started PCG polish (results/mama-sweep.md);",
  "at 2:4 the swap refinement and the channel permutation also run here (at ≥ 256 columns the refinement does not).",
  "",
  'Cells: perplexity, mean ± sample std over calibration seeds 0, 1, 2. "wide vs exact": per-seed',
  "relative change of the wide path's perplexity against the exact path's with the same calibration",
  "windows (mean ± sample std, then the three seeds); positive = the wide path is worse. Best anchor:",
  "the lowest of Wanda + refit, SparseGPT and SparseGPT mask + refit in results/mama-results-<model>.json (same",
  'protocol, seeds and windows; not rerun); "vs best anchor": the column\'s mean against it (negative = better).',
  'Every MAMA column runs MAMA\'s default swap refinement at 2:4 (`refine: "swap"`, N:M levels): the 2:4',
  "cells of this file before the wide path's 8-step default predate it (exact path then 28.33 / 12.38 /",
  "11.03); the exact-path cells of stories260K and llama2xs equal the MAMA column of results/mama-results-<model>.md",
  "(the fine-tune's MAMA column there also uses the movement term; no column here does).",
  "",
  "Protocols:",
  "",
  ...protocols,
  "",
  "| model | level | SparseGPT | best anchor | MAMA exact path | MAMA wide path (pcg) | MAMA wide path (sweep) | pcg vs best anchor | sweep vs best anchor | pcg vs exact | per seed |",
  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  ...lines,
  "",
];
await writeResult("mama-scale-path.md", md.join("\n"));
console.log(md.join("\n"));
