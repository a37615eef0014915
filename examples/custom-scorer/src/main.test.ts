import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "@mama-prune/cli";
import { afterAll, describe, expect, it } from "vitest";
import { RECIPE } from "./main.ts";

const data = fileURLToPath(new URL("../../../data/", import.meta.url));
const tmp = await mkdtemp(join(tmpdir(), "custom-scorer-"));
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("custom-scorer example", () => {
  it("loads the plugin by package name from the recipe and sweeps with its scorer and its method (tiny settings)", async () => {
    // The example's recipe, shrunk: absolute data paths, 2 calibration windows, 2 eval windows, one
    // level; plus a reference column: Wanda with the least-squares refit.
    const recipe = (await readFile(RECIPE, "utf8"))
      .replace(
        "  - acme/power-refit\n",
        '  - acme/power-refit\n  - { name: wanda, redistribution: refit, label: "Wanda + refit" }\n',
      )
      .replaceAll("../../data/", data)
      .replace("nsamples: 16", "nsamples: 2")
      .replace("seqlen: 256\n  seed", "seqlen: 64\n  seed")
      .replace("levels: [0.5, 0.7]", "levels: [0.5]")
      .replace("seqlen: 256\n  windows: 16", "seqlen: 64\n  windows: 2")
      .replace("power: 0.5", "power: 1");
    await writeFile(join(tmp, "recipe.yaml"), recipe);
    let out = "";
    let err = "";
    const code = await main(["sweep", "--recipe", "recipe.yaml", "--json", "--quiet"], {
      stdout: (s) => {
        out += s;
      },
      stderr: (s) => {
        err += s;
      },
      cwd: tmp,
    });
    expect(err).toBe("");
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r.table.columns).toEqual([
      "Magnitude",
      "Wanda",
      "acme p=0.5",
      "acme p=1 + refit",
      "Wanda + refit",
    ]);
    const [dense, half] = r.table.values as number[][];
    expect(new Set(dense).size).toBe(1);
    // With power 1 the plugin is Wanda's score in Wanda's group: the same pruned model, the same perplexity.
    expect(half![2]).toBe(half![1]);
    // The plugin's method with power 1 is Wanda + refit, run through the method registry: identical.
    expect(half![3]).toBe(half![4]);
    // The refit changes the kept weights: not the plain Wanda result.
    expect(half![3]).not.toBe(half![1]);
    expect(r.runs.map((x: { method: string }) => x.method)).toEqual([
      "magnitude",
      "wanda",
      "wanda",
      "acme/power-refit",
      "wanda",
    ]);
    // Wanda beats magnitude at 50 % on the real model.
    expect(half![1]).toBeLessThan(half![0]!);
    expect(r.files.map((f: string) => f.split("/").pop())).toEqual([
      "custom-scorer.md",
      "custom-scorer.csv",
      "custom-scorer.json",
      "custom-scorer.svg",
    ]);
  });
});
