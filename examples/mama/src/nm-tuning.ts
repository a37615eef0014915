// Issue 13's 2:4 target on llama2xs and the fine-tuned pair: MAMA's N:M knobs measured on the
// CALIBRATION side only (held-out slice of the calibration split, seeds 0, 1; never the evaluation
// split), on all three models. Each candidate is laid over MAMA's defaults and run at the levels of
// its set; results are merged into results/mama-nm-tuning.json (one entry per model × candidate ×
// level), so sets can be measured one at a time.
// Run: npm run nm-tuning -w @mama-prune-examples/mama -- <set> [model ids, comma-separated]
import { readFile } from "node:fs/promises";
import type { SweepLevel, SweepMethodOptions } from "@mama-prune/pipeline";
import { cell, MODELS, ROOT, runSweep, writeResult } from "./common.ts";

type Candidate = [label: string, options: Omit<SweepMethodOptions, "method">];
const m = (o: NonNullable<SweepMethodOptions["methodOptions"]>): Omit<SweepMethodOptions, "method"> => ({
  methodOptions: o as never,
});
const NM: readonly SweepLevel[] = [{ n: 2, m: 4 }];

/** Candidate sets (what each set measures, at which levels). */
export const SETS: Record<string, { levels: readonly SweepLevel[]; candidates: Candidate[] }> = {
  knobs: {
    levels: NM,
    candidates: [
      ["MAMA (defaults)", {}],
      ["damping 0.001", { damping: 0.001 }],
      ["damping 0.003", { damping: 0.003 }],
      ["damping 0.03", { damping: 0.03 }],
      ["α 0.5", m({ targetBlend: 0.5 })],
      ["α 0.7", m({ targetBlend: 0.7 })],
      ["steps 16", m({ steps: 16 })],
      ["search damping 0.1", m({ refineDamping: 0.1 })],
    ],
  },
  permute: {
    levels: NM,
    candidates: [["permute channels", m({ permute: "channels" })]],
  },
  combos: {
    levels: NM,
    candidates: [
      ["permute + α 0.5", m({ permute: "channels", targetBlend: 0.5 })],
      ["permute + damping 0.003", { damping: 0.003, ...m({ permute: "channels" }) }],
      [
        "permute + α 0.5 + damping 0.003",
        { damping: 0.003, ...m({ permute: "channels", targetBlend: 0.5 }) },
      ],
    ],
  },
};

const setName = process.argv[2] ?? "knobs";
// `report` only rewrites the Markdown from the JSON.
const set = setName === "report" ? { levels: NM, candidates: [] } : SETS[setName];
if (set === undefined)
  throw new Error(`unknown set ${setName}; expected one of ${Object.keys(SETS).join(", ")}`);
const only = process.argv[3]?.split(",");
const models =
  set.candidates.length === 0 ? [] : MODELS.filter((x) => only === undefined || only.includes(x.id));

type Cell = { mean: number; sd: number; values: number[] };
interface Saved {
  protocol: Record<string, string>;
  cells: Record<string, Record<string, Record<string, Cell>>>; // model → candidate → level
  wallSeconds: Record<string, number>;
}
const jsonPath = `${ROOT}results/mama-nm-tuning.json`;
async function load(): Promise<Saved> {
  try {
    return JSON.parse(await readFile(jsonPath, "utf8")) as Saved;
  } catch {
    return { protocol: {}, cells: {}, wallSeconds: {} };
  }
}
for (const model of models) {
  const t0 = performance.now();
  const r = await runSweep(
    model,
    set.candidates.map(([label, o]) => ({ label, options: { method: "mama", ...o } })),
    set.levels,
    "tuning",
    `MAMA N:M tuning (${setName}) on ${model.id}`,
    [0, 1],
  );
  // Re-read right before writing: several sets may run side by side, each merges its own cells.
  const saved = await load();
  saved.protocol[model.id] = r.protocol;
  const mc = saved.cells[model.id] ?? {};
  saved.cells[model.id] = mc;
  for (const [label] of set.candidates) {
    const lc = mc[label] ?? {};
    mc[label] = lc;
    for (const level of new Set(r.rows.map((x) => x.level))) {
      const c = cell(r, label, level);
      const values = r.rows.filter((x) => x.label === label && x.level === level).map((x) => x.value);
      lc[level] = { mean: c.mean, sd: c.sd, values };
      console.log(
        model.id.padEnd(22),
        label.padEnd(28),
        level.padEnd(5),
        `${c.mean.toFixed(3)} ± ${c.sd.toFixed(3)}`,
      );
    }
  }
  saved.wallSeconds[`${setName} ${model.id}`] = (performance.now() - t0) / 1000;
  await writeResult("mama-nm-tuning.json", `${JSON.stringify(saved, null, 1)}\n`);
}

// ---- Markdown from whatever the JSON holds ----
const saved = await load();
const BASE = "MAMA (defaults)";
const ids = MODELS.map((x) => x.id).filter((id) => saved.cells[id] !== undefined);
const labels = [...new Set(ids.flatMap((id) => Object.keys(saved.cells[id]!)))];
const fmt = (c: Cell | undefined): string =>
  c === undefined ? "–" : `${c.mean.toFixed(2)} ± ${c.sd.toFixed(2)}`;
const md: string[] = [
  "# MAMA at 2:4: the N:M knobs and the channel permutation, on the calibration side",
  "",
  "Regenerate: `npm run nm-tuning -w @mama-prune-examples/mama -- <set>` for the sets `knobs`, `permute`, `combos` (`examples/mama/src/nm-tuning.ts`; each set merges its cells into `results/mama-nm-tuning.json` and rewrites this file).",
  "",
  'Every candidate is laid over MAMA\'s defaults as they were before this table (steps 8, OBS term, swap refinement at N:M, dense target α = 0.35, damping 0.01). Perplexity on the held-out tuning slice of the CALIBRATION split (never the evaluation split), calibration seeds 0, 1, level 2:4. Δ: change of the mean vs MAMA (defaults) on the same model; "beyond": |Δ| > sd(defaults) + sd(candidate).',
  "",
  `| candidate | ${ids.map((id) => `${id} | Δ | beyond`).join(" | ")} | mean Δ log ppl |`,
  `|---|${ids.map(() => "---:|---:|---|").join("")}---:|`,
];
for (const label of labels) {
  let sumLog = 0;
  let n = 0;
  const cells = ids.map((id) => {
    const c = saved.cells[id]![label]?.["2:4"];
    const b = saved.cells[id]![BASE]?.["2:4"];
    if (c === undefined || b === undefined) return `${fmt(c)} | – | –`;
    const d = c.mean - b.mean;
    sumLog += Math.log(c.mean / b.mean);
    n++;
    return `${fmt(c)} | ${d >= 0 ? "+" : ""}${((100 * d) / b.mean).toFixed(1)} % | ${Math.abs(d) > b.sd + c.sd ? "yes" : "no"}`;
  });
  md.push(
    `| ${label} | ${cells.join(" | ")} | ${n === ids.length ? `${(100 * (sumLog / n)).toFixed(2)} %` : "–"} |`,
  );
}
md.push("", "Protocols:", "", ...ids.map((id) => `- ${id}: ${saved.protocol[id]}`), "");
md.push(
  `Wall time (s, this machine, shared with two other engineers and a background benchmark): ${Object.entries(
    saved.wallSeconds,
  )
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(", ")}.`,
  "",
);
try {
  md.push((await readFile(`${ROOT}examples/mama/nm-tuning-choice.md`, "utf8")).trimEnd(), "");
} catch {
  // no choice written yet
}
await writeResult("mama-nm-tuning.md", md.join("\n"));
