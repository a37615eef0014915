import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseRecipe, runSweep } from "@mama-prune/cli";
import { afterAll, describe, expect, it } from "vitest";
import { RECIPE } from "./main.ts";

const out = await mkdtemp(join(tmpdir(), "table2-"));
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe("reproduce-table2", () => {
  it("runs the example's recipe on tiny settings: every method at 50 %, calibrated methods beat magnitude", async () => {
    const recipe = parseRecipe(await readFile(RECIPE, "utf8"), "table2.yaml");
    const r = await runSweep(
      {
        ...recipe,
        levels: [0.5],
        calibration: { ...recipe.calibration!, nsamples: 4, seqlen: 128 },
        eval: { ...recipe.eval!, seqlen: 128, windows: 2 },
      },
      {
        io: { stdout: () => {}, stderr: () => {}, cwd: out },
        baseDir: dirname(RECIPE),
        outDir: out,
        quiet: true,
      },
    );
    expect(r.table.columns).toEqual(["Wanda", "SparseGPT", "Magnitude", "MAMA"]);
    expect(r.runs.map((x) => x.overallSparsity)).toEqual([0.5, 0.5, 0.5, 0.5]);
    const [dense, half] = r.table.values;
    const [wanda, sparsegpt, magnitude, mama] = half!;
    for (const v of half!) expect(v).toBeGreaterThan(dense![0]!);
    expect(wanda!).toBeLessThan(magnitude!);
    expect(sparsegpt!).toBeLessThan(magnitude!);
    expect(mama!).toBeLessThan(magnitude!);
    expect(r.table.protocol).toContain("calibration: 4 windows × 128 tokens");
    const csv = await readFile(join(out, "table2.csv"), "utf8");
    expect(csv.split("\n")[2]).toBe("Pruning level,Wanda,SparseGPT,Magnitude,MAMA");
  });
});
