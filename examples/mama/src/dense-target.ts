// MAMA's dense target (issue 13, `target: "dense"`): refit each linear toward the DENSE model's outputs
// (min ‖W'X̃ − WX‖², asymmetric calibration) instead of its own outputs on the pruned model's inputs.
// 1. Tuning side (never the evaluation split): stories260K, calibration seeds 0, 1, at 50 %, 70 % and 2:4,
//    the default MAMA against the dense target with targetBlend α (target input αX + (1 − α)X̃); the α with
//    the lowest mean log perplexity over the three levels is chosen.
// 2. Evaluation side (the table protocol of mama-results): the three models × seeds 0, 1, 2: MAMA, MAMA +
//    dense target (α = 1) and MAMA + dense target (chosen α), beside the anchors' committed cells
//    (results/mama-results-<model>.json).
// Writes results/mama-dense-target.{md,json}. Run: npm run dense-target -w @mama-prune-examples/mama
// (`tuning` or `evaluation` as argument runs one side; `evaluation` alone reads α from the JSON;
// `report` only rewrites the Markdown from the JSON).
import { readFile } from "node:fs/promises";
import type { MamaMethodOptions, SweepLevel, SweepResult } from "@mama-prune/pipeline";
import { cell, MODELS, mamaColumn, ROOT, runSweep, writeResult } from "./common.ts";

const LEVELS: readonly SweepLevel[] = [0.5, 0.7, { n: 2, m: 4 }];
const LEVEL_KEYS = ["0.5", "0.7", "2:4"] as const;
const BLENDS = [1, 0.7, 0.5, 0.35, 0.2] as const;
const ANCHORS = ["Wanda + refit", "SparseGPT", "SparseGPT mask + refit"] as const;
const side = process.argv[2];

const dense = (a: number): MamaMethodOptions => ({ target: "dense", ...(a === 1 ? {} : { targetBlend: a }) });
const label = (a: number): string => `MAMA + dense target (α = ${a})`;
const fmt = (c: { mean: number; sd: number }): string => `${c.mean.toFixed(2)} ± ${c.sd.toFixed(2)}`;

interface Saved {
  tuning?: {
    protocol: string;
    rows: { label: string; cells: Record<string, { mean: number; sd: number }>; score: number }[];
    chosen: number;
  };
  evaluation?: Record<
    string,
    { protocol: string; cells: Record<string, Record<string, { mean: number; sd: number }>> }
  >;
  wallSeconds?: Record<string, number>;
}
const jsonPath = `${ROOT}results/mama-dense-target.json`;
let saved: Saved = {};
try {
  saved = JSON.parse(await readFile(jsonPath, "utf8")) as Saved;
} catch {
  saved = {};
}
saved.wallSeconds ??= {};

if (side === undefined || side === "tuning") {
  const t0 = performance.now();
  const r: SweepResult = await runSweep(
    MODELS[0]!,
    [mamaColumn("MAMA", {}), ...BLENDS.map((a) => mamaColumn(label(a), dense(a)))],
    LEVELS,
    "tuning",
    "MAMA dense target, tuning side",
    [0, 1],
  );
  const rows = r.table.columns.map((c) => {
    const cells = Object.fromEntries(LEVEL_KEYS.map((l) => [l, cell(r, c, l)]));
    const score = LEVEL_KEYS.reduce((s, l) => s + Math.log(cells[l]!.mean), 0) / LEVEL_KEYS.length;
    return { label: c, cells, score };
  });
  const best = rows.filter((x) => x.label !== "MAMA").reduce((x, y) => (y.score < x.score ? y : x));
  const chosen = BLENDS.find((a) => label(a) === best.label)!;
  saved.tuning = { protocol: r.protocol, rows, chosen };
  saved.wallSeconds["tuning"] = (performance.now() - t0) / 1000;
  for (const x of rows)
    console.log(x.label.padEnd(36), LEVEL_KEYS.map((l) => fmt(x.cells[l]!)).join("  "), x.score.toFixed(4));
  await writeResult("mama-dense-target.json", `${JSON.stringify(saved, null, 1)}\n`);
}

if (side === undefined || side === "evaluation") {
  const chosen = saved.tuning?.chosen;
  if (chosen === undefined) throw new Error("no tuning result: run the tuning side first");
  const blends = chosen === 1 ? [1] : [1, chosen];
  saved.evaluation = {};
  for (const m of MODELS) {
    const t0 = performance.now();
    const r = await runSweep(
      m,
      [
        { ...mamaColumn("MAMA", {}), usePreCheckpoint: false },
        ...blends.map((a) => ({ ...mamaColumn(label(a), dense(a)), usePreCheckpoint: false })),
      ],
      LEVELS,
      "evaluation",
      `MAMA dense target on ${m.id}`,
    );
    const cells: Record<string, Record<string, { mean: number; sd: number }>> = {};
    for (const c of r.table.columns) cells[c] = Object.fromEntries(LEVEL_KEYS.map((l) => [l, cell(r, c, l)]));
    saved.evaluation[m.id] = { protocol: r.protocol, cells };
    saved.wallSeconds[m.id] = (performance.now() - t0) / 1000;
    console.log(`${m.id}: ${saved.wallSeconds[m.id]!.toFixed(0)} s`);
    await writeResult("mama-dense-target.json", `${JSON.stringify(saved, null, 1)}\n`);
  }
}

// ---- Markdown from whatever the JSON holds ----
const md: string[] = [
  "# MAMA + dense target (asymmetric calibration): refit toward the dense model's outputs",
  "",
  "Regenerate: `npm run dense-target -w @mama-prune-examples/mama` (tuning side, then evaluation side).",
  "",
  "MAMA's default refits each linear to its own outputs on the pruned model's inputs X̃ (min ‖(W' − W)X̃‖²). `target: \"dense\"` refits toward the DENSE model's outputs on the same windows (min ‖W'X̃ − WX‖², H̃_KK·w'_K = (C·w)_K with C = X̃ᵀX), so errors of the blocks pruned before are corrected; `targetBlend` α takes αX + (1 − α)X̃ as the target input. Everything else (mask steps, OBS saliency, swap pass, damping) is MAMA's default.",
  "",
];
if (saved.tuning !== undefined) {
  const t = saved.tuning;
  md.push(
    "## Tuning side (stories260K, held-out slice of the calibration split, seeds 0, 1)",
    "",
    `Protocol: ${t.protocol}`,
    "",
    "| candidate | ppl @0.5 | ppl @0.7 | ppl @2:4 | mean log ppl |",
    "|---|---:|---:|---:|---:|",
    ...t.rows.map(
      (x) =>
        `| ${x.label} | ${LEVEL_KEYS.map((l) => fmt(x.cells[l]!)).join(" | ")} | ${x.score.toFixed(4)} |`,
    ),
    "",
    `Chosen on this side (lowest mean log perplexity): α = ${t.chosen}.`,
    "",
  );
}
if (saved.evaluation !== undefined && Object.keys(saved.evaluation).length > 0) {
  const chosen = saved.tuning?.chosen ?? 1;
  const blends = chosen === 1 ? [1] : [1, chosen];
  md.push(
    "## Evaluation split (the table protocol of results/mama-results.md; seeds 0, 1, 2)",
    "",
    'Anchor cells and "MAMA (committed)" are copied from the committed `results/mama-results-<model>.json`; the other cells ran here. Δ: change of the mean vs MAMA of this run; "beyond spread": |Δ| > sd(MAMA) + sd(dense target).',
    "",
    `| model | level | ${ANCHORS.join(" | ")} | MAMA (committed) | MAMA | ${blends.map((a) => `${label(a)} | Δ | beyond spread`).join(" | ")} | α = ${chosen} vs best anchor |`,
    `|---|---|${"---:|".repeat(ANCHORS.length + 2)}${blends.map(() => "---:|---:|---|").join("")}---:|`,
  );
  for (const m of MODELS) {
    const e = saved.evaluation[m.id];
    if (e === undefined) continue;
    let committed:
      | { columns: string[]; rows: { level: string; values: number[]; spread: (number | null)[] }[] }
      | undefined;
    try {
      committed = JSON.parse(await readFile(`${ROOT}results/mama-results-${m.id}.json`, "utf8"));
    } catch {
      committed = undefined;
    }
    for (const l of LEVEL_KEYS) {
      const old = (c: string): string => {
        const row = committed?.rows.find((x) => x.level === l);
        const i = committed?.columns.indexOf(c) ?? -1;
        return row === undefined || i < 0 ? "–" : fmt({ mean: row.values[i]!, sd: row.spread[i] ?? 0 });
      };
      const base = e.cells["MAMA"]![l]!;
      const anchorMeans = ANCHORS.map((c) => {
        const row = committed?.rows.find((x) => x.level === l);
        const i = committed?.columns.indexOf(c) ?? -1;
        return row === undefined || i < 0 ? Number.POSITIVE_INFINITY : row.values[i]!;
      });
      const best = Math.min(...anchorMeans);
      const mine = e.cells[label(chosen)]![l]!.mean;
      const gain = Number.isFinite(best) ? `${((100 * (mine - best)) / best).toFixed(1)} %` : "–";
      const dense = blends.map((a) => {
        const c = e.cells[label(a)]![l]!;
        const d = c.mean - base.mean;
        return `${fmt(c)} | ${d >= 0 ? "+" : ""}${((100 * d) / base.mean).toFixed(1)} % | ${Math.abs(d) > base.sd + c.sd ? "yes" : "no"}`;
      });
      md.push(
        `| ${m.id} | ${l} | ${ANCHORS.map(old).join(" | ")} | ${old("MAMA")} | ${fmt(base)} | ${dense.join(" | ")} | ${gain} |`,
      );
    }
  }
  md.push(
    "",
    "Protocols:",
    "",
    ...MODELS.filter((m) => saved.evaluation?.[m.id]).map(
      (m) => `- ${m.id}: ${saved.evaluation![m.id]!.protocol}`,
    ),
  );
}
md.push(
  "",
  `Wall time (s, this machine, shared): ${Object.entries(saved.wallSeconds)
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(", ")}.`,
  "",
);
await writeResult("mama-dense-target.md", md.join("\n"));
