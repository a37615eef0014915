import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { reproduceTable1 } from "./main.ts";

const out = await mkdtemp(join(tmpdir(), "table1-"));
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe("reproduce-table1", () => {
  it("runs the example's recipe on tiny settings and shows -weights collapsing where weights do not", async () => {
    const r = await reproduceTable1({
      recipe: (recipe) => ({
        ...recipe,
        levels: [0.1, 0.3],
        eval: { ...recipe.eval!, seqlen: 64, windows: 2 },
      }),
      outDir: out,
      resultsDir: out,
    });
    expect(r.table.columns).toEqual(["by Weights", "by -Weights"]);
    expect(r.table.levels).toEqual(["0", "0.1", "0.3"]);
    const [dense, p10, p30] = r.table.values;
    expect(dense![0]).toBe(dense![1]);
    // The paper's finding: removing the largest weights first is catastrophic already at 10 %.
    expect(p10![1]!).toBeGreaterThan(10 * p10![0]!);
    expect(p30![1]!).toBeGreaterThan(10 * p30![0]!);
    expect(p10![0]!).toBeLessThan(2 * dense![0]!);
    for (const run of r.runs) expect(run.overallSparsity).toBeCloseTo(Number(run.level), 3);
    const md = await readFile(join(out, "table1.md"), "utf8");
    expect(md).toContain("| Pruning level | by Weights | by -Weights |");
    expect(await readFile(join(out, "table1.svg"), "utf8")).toContain(
      "Table 1: Effectiveness of the pruning indicators",
    );
    // The root summary of the same run: three decimals in fixed form (no exponents), the check.
    const summary = await readFile(join(out, "table1-weights.md"), "utf8");
    expect(summary).toContain(`| 0.3 | ${p30![0]!.toFixed(3)} | ${p30![1]!.toFixed(3)} |`);
    expect(summary).toContain("- -weights collapses at 0.1 (ppl > 10 × dense): true");
    const json = JSON.parse(await readFile(join(out, "table1-weights.json"), "utf8"));
    expect(json.rows.map((x: { level: string }) => x.level)).toEqual(["0", "0.1", "0.3"]);
  });
});
