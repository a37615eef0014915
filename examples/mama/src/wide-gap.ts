// Where MAMA's wide path loses quality against its exact path (issue 13's scaling work): on the small
// models with the wide path FORCED (PCG refits even at these widths), run variants that change one
// part of the wide path at a time — steps (2 vs 8, PCG to tolerance on every step), the OBS term
// (full-inverse w²/[(H + λI)⁻¹]_jj, the exact per-row kept-set term, the block-conditional kept-set
// term with B columns) — against the exact path. Prints a markdown table and writes a JSON of the
// per-seed perplexities to results/mama-wide-gap-<side>.json.
// Run: npx tsx --conditions @mama-prune/source examples/mama/src/wide-gap.ts <tuning|evaluation> [models,] [variants,] [seeds,] [levels,]
import {
  createMamaMethod,
  levelLabel,
  type MamaMethodOptions,
  type MamaWideOptions,
  type RefitSolver,
  refitKept,
  type SweepLevel,
  type SweepMethod,
} from "@mama-prune/pipeline";
import { cell, MODELS, mamaColumn, runSweep, type Side, writeResult } from "./common.ts";

const ALL_LEVELS: readonly SweepLevel[] = [0.5, 0.7, { n: 2, m: 4 }];
// Optional 6th argument: the levels to run (e.g. "2:4"; default all three).
const LEVELS: readonly SweepLevel[] =
  process.argv[6] === undefined
    ? ALL_LEVELS
    : ALL_LEVELS.filter((l) => process.argv[6]!.split(",").includes(levelLabel(l)));
const pcgAlways: RefitSolver = (w, h, m, o) => refitKept(w, h, m, { ...o, maxDirectMultiplyAdds: 0 });
const wideMethod = createMamaMethod({ refit: pcgAlways, name: "mama-wide", label: "MAMA (wide path)" });

/** The variants: label → the wide path's knobs (undefined = the exact path). */
export const VARIANTS: Record<string, MamaWideOptions | undefined> = {
  exact: undefined,
  "wide2-full": { steps: 2, intermediateIterations: 3, obs: "full" },
  "wide8-full-tol": { steps: 8, intermediateIterations: 0, obs: "full" },
  "wide2-kept": { steps: 2, intermediateIterations: 3, obs: "kept" },
  "wide2-block32": { steps: 2, intermediateIterations: 3, obs: "block", block: 32 },
  "wide8-block32-tol": { steps: 8, intermediateIterations: 0, obs: "block", block: 32 },
  "wide4-block32": { steps: 4, intermediateIterations: 3, obs: "block", block: 32 },
  "wide8-kept-tol": { steps: 8, intermediateIterations: 0, obs: "kept" },
  "wide8-full": { steps: 8, intermediateIterations: 3, obs: "full" },
  "wide4-full": { steps: 4, intermediateIterations: 3, obs: "full" },
  "wide8-full-1it": { steps: 8, intermediateIterations: 1, obs: "full" },
  "wide6-full-1it": { steps: 6, intermediateIterations: 1, obs: "full" },
  "wide8-block32": { steps: 8, intermediateIterations: 3, obs: "block", block: 32 },
  // The sweep solver: SparseGPT's OBS sweep on the refit's target V, MAMA's score inside it (the
  // shipped weights: OBS term only), each row pruning its share of every block (MAMA's group "row"),
  // then k warm-started PCG iterations; "-block": SparseGPT's own rows × block selection (group
  // "matrix": exactly SparseGPT run on V).
  sweep: { solver: "sweep", polishIterations: 0 },
  "sweep-p1": { solver: "sweep", polishIterations: 1 },
  "sweep-p2": { solver: "sweep", polishIterations: 2 },
  "sweep-p3": { solver: "sweep", polishIterations: 3 },
  "sweep-p10": { solver: "sweep", polishIterations: 10 },
  "sweep2-p3": { solver: "sweep", polishIterations: 3, sweeps: 2 },
  "sweep4-p3": { solver: "sweep", polishIterations: 3, sweeps: 4 },
  "sweep-block": { solver: "sweep", polishIterations: 0 },
  "sweep-block-p3": { solver: "sweep", polishIterations: 3 },
  // At 2:4 the small models run MAMA's swap refinement (widths ≤ refineMaxCols) after every solver;
  // at 896+ columns it does not run. "-nr": refinement off, the 2:4 sweep as it runs at scale.
  "sweep-nr": { solver: "sweep", polishIterations: 0 },
  "sweep-p1-nr": { solver: "sweep", polishIterations: 1 },
  "sweep-p2-nr": { solver: "sweep", polishIterations: 2 },
  "sweep-p3-nr": { solver: "sweep", polishIterations: 3 },
  "wide8-full-nr": { steps: 8, intermediateIterations: 3, obs: "full" },
};

/** MAMA options of a variant beyond its wide-path knobs. */
const EXTRA: Record<string, MamaMethodOptions> = {
  "sweep-block": { group: "matrix" },
  "sweep-block-p3": { group: "matrix" },
  "sweep-nr": { refine: "none" },
  "sweep-p1-nr": { refine: "none" },
  "sweep-p2-nr": { refine: "none" },
  "sweep-p3-nr": { refine: "none" },
  "wide8-full-nr": { refine: "none" },
};

function column(label: string): SweepMethod {
  const w = VARIANTS[label];
  if (w === undefined) return { ...mamaColumn(label, { path: "exact" }), usePreCheckpoint: false };
  return {
    label,
    // Every knob the variant leaves out is pinned to what it was measured with (the pcg solver, one
    // sweep), so the variants stay the same when the wide path's defaults move.
    options: {
      method: wideMethod,
      methodOptions: { ...EXTRA[label], path: "wide", wide: { solver: "pcg", sweeps: 1, ...w } },
    },
    usePreCheckpoint: false,
  };
}

const side = (process.argv[2] ?? "tuning") as Side;
const models = (process.argv[3] ?? MODELS.map((m) => m.id).join(",")).split(",");
const variants = (process.argv[4] ?? Object.keys(VARIANTS).join(",")).split(",");
const seeds = (process.argv[5] ?? "0,1,2").split(",").map(Number);
const out: { model: string; label: string; level: string; seed: number; value: number; seconds?: number }[] =
  [];
const lines: string[] = [];
for (const id of models) {
  const m = MODELS.find((x) => x.id === id)!;
  for (const v of variants) {
    const t0 = performance.now();
    const r = await runSweep(m, [column(v)], LEVELS, side, `wide gap ${id} ${v}`, seeds);
    const secs = (performance.now() - t0) / 1000;
    for (const x of r.rows)
      if (x.label === v)
        out.push({ model: id, label: v, level: x.level, seed: x.seed ?? -1, value: x.value });
    const cells = ALL_LEVELS.map((l) => levelLabel(l))
      .map((l) => (r.table.levels.includes(l) ? l : undefined))
      .map((l) => {
        if (l === undefined) return "–";
        const c = cell(r, v, l);
        return `${c.mean.toFixed(2)} ± ${c.sd.toFixed(2)}`;
      });
    const line = `| ${id} | ${v} | ${cells.join(" | ")} | ${secs.toFixed(0)} s |`;
    lines.push(line);
    console.log(line);
  }
}
console.log(
  ["| model | variant | 0.5 | 0.7 | 2:4 | time |", "|---|---|---:|---:|---:|---:|", ...lines].join("\n"),
);
await writeResult(
  `mama-wide-gap-${side}-${models.join("+")}-${variants.length}v.json`,
  `${JSON.stringify({ side, seeds, rows: out }, null, 1)}\n`,
);
