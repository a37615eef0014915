import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseRecipe, runSweep } from "@mama-prune/cli";
import { afterAll, describe, expect, it } from "vitest";
import { RECIPE } from "./main.ts";

const out = await mkdtemp(join(tmpdir(), "table1-"));
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe("reproduce-table1", () => {
  it("runs the example's recipe on tiny settings and shows -weights collapsing where weights do not", async () => {
    const recipe = parseRecipe(await readFile(RECIPE, "utf8"), "table1.yaml");
    const r = await runSweep(
      { ...recipe, levels: [0.1, 0.3], eval: { ...recipe.eval!, seqlen: 64, windows: 2 } },
      {
        io: { stdout: () => {}, stderr: () => {}, cwd: out },
        baseDir: dirname(RECIPE),
        outDir: out,
        quiet: true,
      },
    );
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
  });
});
