// The Hamming fraction of MAMA's final mask vs Wanda's mask on the same dense weights and input
// statistics, per linear type (all layers, calibration seeds 0, 1, 2 pooled), at 50 %, 70 % and 2:4.
// Writes results/mama-hamming.md. Run: npm run hamming -w @mama-prune-examples/mama [-- model ids]
import type { SweepLevel } from "@mama-prune/pipeline";
import { type HammingLog, MODELS, mamaWithHamming, runSweep, writeResult } from "./common.ts";

const LEVELS: readonly SweepLevel[] = [0.5, 0.7, { n: 2, m: 4 }];
const TYPES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const only = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const lines: string[] = [];
let protocol = "";
for (const m of MODELS) {
  if (only.length > 0 && !only.includes(m.id)) continue;
  const logs = new Map<string, HammingLog>();
  const r = await runSweep(
    m,
    [
      {
        label: "MAMA",
        options: (run) => {
          const key = typeof run.level === "number" ? String(run.level) : `${run.level.n}:${run.level.m}`;
          if (!logs.has(key)) logs.set(key, new Map());
          return mamaWithHamming(logs.get(key)!);
        },
        usePreCheckpoint: false,
      },
    ],
    LEVELS,
    "evaluation",
    "Hamming",
  );
  protocol = r.protocol;
  for (const [level, h] of logs) {
    const all = [...h.values()].reduce((a, e) => ({ diff: a.diff + e.diff, total: a.total + e.total }), {
      diff: 0,
      total: 0,
    });
    lines.push(
      `| ${m.id} | ${level} | ${TYPES.map((t) => {
        const e = h.get(t);
        return e === undefined ? "–" : (e.diff / e.total).toFixed(3);
      }).join(" | ")} | ${(all.diff / all.total).toFixed(3)} |`,
    );
  }
}
const md = [
  "# Hamming fraction of MAMA's mask vs Wanda's mask",
  "",
  "Fraction of the entries of each linear where MAMA's final keep-mask differs from Wanda's mask computed on the same dense weight and the same input statistics (the block inputs of MAMA's own sequential run), pooled over all layers and calibration seeds 0, 1, 2. Same calibration protocol as results/mama-results.md:",
  "",
  protocol,
  "",
  "| model | level | q_proj | k_proj | v_proj | o_proj | gate_proj | up_proj | down_proj | all |",
  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ...lines,
  "",
];
await writeResult(only.length > 0 ? `mama-hamming-${only.join("-")}.md` : "mama-hamming.md", md.join("\n"));
console.log(md.join("\n"));
