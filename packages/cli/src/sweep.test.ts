import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, runCli, type Workspace, writeTinyModel } from "../test/fixtures/workspace.ts";

let ws: Workspace;
beforeAll(async () => {
  ws = await createWorkspace();
  await writeFile(
    join(ws.dir, "good-plugin.mjs"),
    `export function halfMagnitude(options = {}) {
  const p = options.power ?? 1;
  return { name: "acme/half-magnitude", apiVersion: 1, granularity: "element", requires: ["weights"],
    score(ctx) { const d = ctx.weight.data; const out = new Float32Array(d.length);
      for (let i = 0; i < d.length; i++) out[i] = Math.abs(d[i]) ** p; return out; } };
}
`,
  );
  await writeFile(
    join(ws.dir, "v2-plugin.mjs"),
    `export function scorer() { return { name: "acme/future", apiVersion: 2, granularity: "element", requires: ["weights"], score() { return new Float32Array(0); } }; }\n`,
  );
  await writeFile(join(ws.dir, "two-exports.mjs"), "export const a = () => 1;\nexport const b = () => 2;\n");
});
afterAll(async () => {
  await ws.cleanup();
});

const recipe = (extra: string): string => `model: model
calibration: { text: text.txt, nsamples: 4, seqlen: 16, seed: 1 }
eval: { seqlen: 16, windows: 3 }
levels: [0.5, "2:4"]
${extra}`;

describe("main: sweep", () => {
  it("writes the paper-format table (md, csv, json) and a plot, with a plugin scorer as a column", async () => {
    await writeFile(
      join(ws.dir, "sweep.yaml"),
      recipe(`methods:
  - magnitude
  - wanda
  - { name: magnitude, scorer: acme/half-magnitude, label: "Acme |W|^1" }
plugins:
  - { package: ./good-plugin.mjs, options: { power: 1 } }
output: { dir: out, name: t, title: "Table X" }
`),
    );
    const r = await runCli(["sweep", "--recipe", "sweep.yaml"], ws.dir);
    expect(r.stderr).not.toMatch(/mama-prune:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      "| Pruning level | Magnitude | Wanda | Acme |W|^1 |".replace("|W|^1", "\\|W\\|^1"),
    );
    const j = JSON.parse(await readFile(join(ws.dir, "out/t.json"), "utf8"));
    expect(j.columns).toEqual(["Magnitude", "Wanda", "Acme |W|^1"]);
    expect(j.rows.map((x: { level: string }) => x.level)).toEqual(["0", "0.5", "2:4"]);
    // Row 0 is the dense model for every method; the plugin scores |W|, so it equals magnitude exactly.
    const [dense, half, nm] = j.rows as { values: number[] }[];
    expect(new Set(dense!.values).size).toBe(1);
    expect(half!.values[2]).toBe(half!.values[0]);
    expect(nm!.values[2]).toBe(nm!.values[0]);
    expect(j.runs).toHaveLength(6);
    for (const run of j.runs) expect(run.overallSparsity).toBe(0.5);
    const csv = await readFile(join(ws.dir, "out/t.csv"), "utf8");
    expect(csv.split("\n")[2]).toBe("Pruning level,Magnitude,Wanda,Acme |W|^1");
    const svg = await readFile(join(ws.dir, "out/t.svg"), "utf8");
    expect((svg.match(/<g class="series"/g) ?? []).length).toBe(3);
    expect(await readFile(join(ws.dir, "out/t.md"), "utf8")).toMatch(
      /^## Table X\n\nProtocol: model model \(hf-folder\)/,
    );
    // The default backend is the WebAssembly SIMD one, named in the protocol line.
    expect(j.protocol).toMatch(/ \| backend (?:onnxruntime x\d+ \+ )?wasm-simd x\d+ \| /);
  });

  it("prints the table as JSON with --json", async () => {
    await writeFile(join(ws.dir, "mag.yaml"), recipe("methods: [magnitude]\noutput: { dir: out2 }\n"));
    const r = await runCli(["sweep", "--recipe", "mag.yaml", "--json", "--quiet"], ws.dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const j = JSON.parse(r.stdout);
    expect(j.table.columns).toEqual(["Magnitude"]);
    expect(j.files.map((f: string) => basename(f))).toEqual([
      "sweep.md",
      "sweep.csv",
      "sweep.json",
      "sweep.svg",
    ]);
    expect(j.files.every((f: string) => dirname(f) === join(ws.dir, "out2"))).toBe(true);
  });

  it("treats level 0 in the recipe as the dense row, measured once", async () => {
    await writeFile(
      join(ws.dir, "zero.yaml"),
      recipe("methods: [magnitude]\noutput: { dir: out3 }\n").replace(
        'levels: [0.5, "2:4"]',
        "levels: [0, 0.5]",
      ),
    );
    const r = await runCli(["sweep", "--recipe", "zero.yaml", "--json", "--quiet"], ws.dir);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.table.levels).toEqual(["0", "0.5"]);
    expect(j.runs.map((x: { level: string }) => x.level)).toEqual(["0.5"]);
  });

  it("--seeds: calibrated methods run once per seed, cells are mean ± sample std, the seed-0 run is unchanged", async () => {
    const body = recipe("methods: [wanda, magnitude]\noutput: { dir: out4, name: s, digits: 3 }\n").replace(
      "calibration: { text: text.txt, nsamples: 4, seqlen: 16, seed: 1 }",
      "calibration: { text: text.txt, nsamples: 4, seqlen: 16, seed: 0 }",
    );
    await writeFile(join(ws.dir, "seeds.yaml"), body);
    const one = await runCli(
      ["sweep", "--recipe", "seeds.yaml", "--json", "--quiet", "--out", "out5"],
      ws.dir,
    );
    expect(one.code).toBe(0);
    const j1 = JSON.parse(one.stdout);
    expect(j1.runs.every((x: { seed?: number }) => x.seed === undefined)).toBe(true);
    const r = await runCli(
      ["sweep", "--recipe", "seeds.yaml", "--seeds", "0,1,2", "--json", "--quiet"],
      ws.dir,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    type Run = { label: string; level: string; seed?: number; ppl: number };
    const wanda = (j.runs as Run[]).filter((x) => x.label === "Wanda" && x.level === "0.5");
    expect(wanda.map((x) => x.seed)).toEqual([0, 1, 2]);
    // Magnitude reads no calibration: one run per level, no seed.
    expect((j.runs as Run[]).filter((x) => x.label === "Magnitude").map((x) => x.seed)).toEqual([
      undefined,
      undefined,
    ]);
    // Seed 0 is the one-seed sweep's number, bit for bit.
    const w1 = (j1.runs as Run[]).find((x) => x.label === "Wanda" && x.level === "0.5")!;
    expect(wanda[0]!.ppl).toBe(w1.ppl);
    const ppls = wanda.map((x) => x.ppl);
    const mean = (ppls[0]! + ppls[1]! + ppls[2]!) / 3;
    const sd = Math.sqrt(ppls.reduce((a, v) => a + (v - mean) ** 2, 0) / 2);
    const md = await readFile(join(ws.dir, "out4/s.md"), "utf8");
    expect(md).toContain(`| 0.5 | ${mean.toFixed(3)} ± ${sd.toFixed(3)} | `);
    expect(md).toContain("createRng(seed) for seeds 0, 1, 2");
    expect(md).toContain("cells: mean ± sample standard deviation (n − 1) of the 3 perplexities");
    const csv = await readFile(join(ws.dir, "out4/s.csv"), "utf8");
    expect(csv.split("\n")[2]).toBe("Pruning level,Wanda,Wanda sd,Magnitude,Magnitude sd");
    expect(await readFile(join(ws.dir, "out4/s.svg"), "utf8")).toContain('class="error-bar"');
    const bad = await runCli(["sweep", "--recipe", "seeds.yaml", "--seeds", "0,0"], ws.dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--seeds: expected distinct seeds/);
  });

  it("gives the recipe's W⁰ only to methods without pre: false and names it in the protocol", async () => {
    await writeTinyModel(join(ws.dir, "pre-model"), { seed: 11 });
    await writeFile(
      join(ws.dir, "pre.yaml"),
      recipe(
        "pre: pre-model\nmethods: [{ name: mama, mama: { useMovement: true } }, { name: mama, label: no W0, pre: false }]\noutput: { dir: out6 }\n",
      ),
    );
    const r = await runCli(["sweep", "--recipe", "pre.yaml", "--json", "--quiet"], ws.dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.table.protocol).toContain(" | pre-trained W⁰ for movement: pre-model | ");
    // With W⁰ and useMovement MAMA adds its movement term (a different mask); without W⁰, it does not.
    expect(j.table.values[1][0]).not.toBe(j.table.values[1][1]);
  });

  const bad: [string, string, RegExp][] = [
    [
      "an unknown recipe key",
      "methods: [magnitude]\nlevelz: [0.5]\n",
      /RECIPE_INVALID: recipe\.levelz: unknown key/,
    ],
    [
      "both seed and seeds",
      "methods: [wanda]\ncalibration: { text: text.txt, seed: 0, seeds: [0, 1] }\n",
      /recipe\.calibration\.seeds: expected either seed or seeds, not both/,
    ],
    [
      "an empty seed list",
      "methods: [wanda]\ncalibration: { text: text.txt, seeds: [] }\n",
      /recipe\.calibration\.seeds: expected a non-empty list of seeds/,
    ],
    [
      "nsamples 0",
      "methods: [wanda]\ncalibration: { text: text.txt, nsamples: 0 }\n",
      /recipe\.calibration\.nsamples: expected an integer ≥ 1, got 0\./,
    ],
    [
      "a plugin with an unsupported API version",
      "methods: [magnitude]\nplugins: [./v2-plugin.mjs]\n",
      /SCORER_API_UNSUPPORTED: scorer acme\/future: apiVersion is not supported.*Expected 1, got 2/,
    ],
    [
      "a plugin package that is not installed",
      "methods: [magnitude]\nplugins: ['@acme/prune-scorer-missing']\n",
      /SCORER_NOT_FOUND: plugin "@acme\/prune-scorer-missing": cannot be loaded/,
    ],
    [
      "a plugin with several exports and no export key",
      "methods: [magnitude]\nplugins: [./two-exports.mjs]\n",
      /SCORER_NOT_FOUND: .*Expected an "export" key naming one of a, b/,
    ],
    [
      "a scorer name no plugin provides",
      "methods: [{ name: magnitude, scorer: acme/nothing }]\n",
      /SCORER_NOT_FOUND: scorer registry: no scorer named "acme\/nothing"/,
    ],
  ];
  for (const [what, body, pattern] of bad) {
    it(`fails with exit 2 and one line for ${what}`, async () => {
      await writeFile(
        join(ws.dir, "bad.yaml"),
        `model: model\neval: { text: text.txt, seqlen: 16, windows: 2 }\n${body.includes("levels") || body.includes("levelz") ? "" : "levels: [0.5]\n"}${body}`,
      );
      const r = await runCli(["sweep", "--recipe", "bad.yaml"], ws.dir);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(pattern);
    });
  }

  it("uses a plugin from --plugin in prune", async () => {
    const r = await runCli(
      [
        "prune",
        "model",
        "--method",
        "magnitude",
        "--sparsity",
        "0.25",
        "--plugin",
        "./good-plugin.mjs",
        "--out",
        "plug",
        "--json",
        "--quiet",
      ],
      ws.dir,
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).report.scorer).toBe("acme/half-magnitude");
  });
});

describe("main: sweep streamed (--max-resident-bytes)", () => {
  it("gives the resident sweep's table to the printed digits, says streamed, and leaves no scratch folder", async () => {
    await writeFile(
      join(ws.dir, "stream.yaml"),
      recipe(`methods: [magnitude, wanda, sparsegpt]
output: { name: s, title: "Streamed" }
`),
    );
    const resident = await runCli(["sweep", "--recipe", "stream.yaml", "--out", "res", "--json"], ws.dir);
    expect(resident.code, resident.stderr).toBe(0);
    expect(resident.stderr).toMatch(/resident: the model's float32 weights \(0\.00 GiB\) fit/);
    const streamed = await runCli(
      ["sweep", "--recipe", "stream.yaml", "--out", "str", "--json", "--max-resident-bytes", "0"],
      ws.dir,
    );
    expect(streamed.code, streamed.stderr).toBe(0);
    expect(streamed.stderr).toMatch(
      /streamed: the model's float32 weights .* exceed --max-resident-bytes 0\.00 GiB/,
    );
    const a = JSON.parse(resident.stdout);
    const b = JSON.parse(streamed.stdout);
    expect(b.dense.toFixed(4)).toBe(a.dense.toFixed(4));
    expect(b.runs).toHaveLength(6);
    for (let i = 0; i < a.runs.length; i++) {
      expect(b.runs[i].label).toBe(a.runs[i].label);
      expect(b.runs[i].ppl.toFixed(4), `${a.runs[i].label} ${a.runs[i].level}`).toBe(
        a.runs[i].ppl.toFixed(4),
      );
      expect(b.runs[i].overallSparsity).toBe(a.runs[i].overallSparsity);
    }
    const md = await readFile(join(ws.dir, "str/s.md"), "utf8");
    expect(md).toContain("streamed: one decoder block resident");
    expect(await readFile(join(ws.dir, "res/s.md"), "utf8")).not.toContain("streamed");
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(join(ws.dir, "str"))).filter((f) => f.startsWith(".sweep-scratch-"))).toEqual([]);
  });

  it("refuses a malformed --max-resident-bytes", async () => {
    const r = await runCli(["sweep", "--recipe", "stream.yaml", "--max-resident-bytes", "lots"], ws.dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--max-resident-bytes: expected a non-negative byte count/);
  });
});
