import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseRecipe } from "@mama-prune/cli";
import { afterAll, describe, expect, it } from "vitest";
import { reproduceTable2, table2Checks } from "./main.ts";
import { TABLE3_RECIPE } from "./table3.ts";

const out = await mkdtemp(join(tmpdir(), "table2-"));
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe("reproduce-table2", () => {
  it("runs the example's recipe on tiny settings: every method at 50 %, calibrated methods beat magnitude", async () => {
    const r = await reproduceTable2({
      recipe: (recipe) => ({
        ...recipe,
        levels: [0.5, 0.7],
        calibration: { ...recipe.calibration!, nsamples: 4, seqlen: 128 },
        eval: { ...recipe.eval!, seqlen: 128, windows: 2 },
      }),
      outDir: out,
      resultsDir: out,
    });
    expect(r.table.columns).toEqual(["Wanda", "SparseGPT", "Magnitude", "MAMA"]);
    expect(r.runs.filter((x) => x.level === "0.5").map((x) => x.overallSparsity)).toEqual([
      0.5, 0.5, 0.5, 0.5,
    ]);
    const [dense, half] = r.table.values;
    const [wanda, sparsegpt, magnitude, mama] = half!;
    for (const v of half!) expect(v).toBeGreaterThan(dense![0]!);
    expect(wanda!).toBeLessThan(magnitude!);
    expect(sparsegpt!).toBeLessThan(magnitude!);
    expect(mama!).toBeLessThan(magnitude!);
    expect(r.table.protocol).toContain("calibration: 4 windows × 128 tokens");
    const csv = await readFile(join(out, "table2.csv"), "utf8");
    expect(csv.split("\n")[2]).toBe("Pruning level,Wanda,SparseGPT,Magnitude,MAMA");
    // The root summary from the same run: three decimals in fixed form, the checks, the measured sparsity.
    const md = await readFile(join(out, "table2-methods.md"), "utf8");
    expect(
      md.startsWith("# Table 2: Perplexity of the pruned model\n\nProtocol: model stories260K.bin"),
    ).toBe(true);
    expect(md).toContain(`| 0.5 | ${half!.map((v) => v.toFixed(3)).join(" | ")} |`);
    const checks = table2Checks(r);
    expect(md).toContain(`- levels where MAMA < SparseGPT: ${checks["levels where MAMA < SparseGPT"]}`);
    expect(checks["SparseGPT <= Wanda < magnitude at every level >= 0.5"]).toBe(
      sparsegpt! <= wanda! &&
        wanda! < magnitude! &&
        (() => {
          const [w7, s7, m7] = r.table.values[2]!;
          return s7! <= w7! && w7! < m7!;
        })(),
    );
    expect(md).toContain("## Measured overall sparsity of the block linears");
    expect(md).toContain("| 0.5 | 0.5000 | 0.5000 | 0.5000 | 0.5000 |");
    const json = JSON.parse(await readFile(join(out, "table2-methods.json"), "utf8"));
    expect(json.rows[1].values).toEqual(half);
    expect(json.dense).toBe(dense![0]);
  });

  it("table3.yaml gives W⁰ only to the movement column", async () => {
    const recipe = parseRecipe(await readFile(TABLE3_RECIPE, "utf8"), "table3.yaml");
    expect(recipe.methods!.map((m) => m.pre)).toEqual([false, false, false, undefined]);
    expect(recipe.output!.dir).toBe("../../results");
    expect(recipe.output!.digits).toBe(3);
  });
});
