import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, runCli, type Workspace } from "../test/fixtures/workspace.ts";

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
    expect(j.protocol).toMatch(/ \| backend wasm-simd x\d+ \| /);
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

  const bad: [string, string, RegExp][] = [
    [
      "an unknown recipe key",
      "methods: [magnitude]\nlevelz: [0.5]\n",
      /RECIPE_INVALID: recipe\.levelz: unknown key/,
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
