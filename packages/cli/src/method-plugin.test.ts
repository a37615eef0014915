import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PRUNE_ERROR_CODES, PruneError, pruneErrorKind } from "@mama-prune/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, runCli, type Workspace } from "../test/fixtures/workspace.ts";
import { EXIT_CODES, exitCodeOf } from "./exit-codes.ts";
import { loadPluginModule, loadPlugins } from "./plugins.ts";

// A plugin package defining whole methods, written without importing @mama-prune/pipeline: a
// definition is a plain object with apiVersion 1 (defineMethod only validates and fills it in).
const METHOD_PLUGIN = `
function halfMagnitude(options = {}) {
  const p = options.power ?? 1;
  return { name: "acme/half-magnitude", apiVersion: 1, granularity: "element", requires: ["weights"],
    score(ctx) { const d = ctx.weight.data; const out = new Float32Array(d.length);
      for (let i = 0; i < d.length; i++) out[i] = Math.abs(d[i]) ** p; return out; } };
}
export const scorer = halfMagnitude;
export function methods(options = {}) {
  return [
    { apiVersion: 1, name: "acme/half-refit", label: "Acme refit", scorer: () => halfMagnitude(options),
      group: "row", redistribution: "refit" },
    { apiVersion: 1, name: "acme/half-plain", label: "Acme plain", scorer: () => halfMagnitude(options),
      group: "matrix", redistribution: "none" },
  ];
}
`;

let ws: Workspace;
beforeAll(async () => {
  ws = await createWorkspace();
  await writeFile(join(ws.dir, "method-plugin.mjs"), METHOD_PLUGIN);
  await writeFile(
    join(ws.dir, "one-method.mjs"),
    `export const method = { apiVersion: 1, name: "acme/adaptive", label: "Acme OBS", scorer: "adaptive", group: "block", redistribution: "sparsegpt" };\n`,
  );
  await writeFile(
    join(ws.dir, "bad-method.mjs"),
    `export const method = { apiVersion: 1, name: "acme/bad", label: "Bad", scorer: "adaptive", group: "row", redistribution: "none" };\n`,
  );
});
afterAll(async () => {
  await ws.cleanup();
});

describe("method plugins", () => {
  it("loads methods (factory with options) and the scorer of one module", async () => {
    const m = await loadPluginModule({ package: "./method-plugin.mjs", options: { power: 2 } }, ws.dir);
    expect(m.methods.map((d) => d.name)).toEqual(["acme/half-refit", "acme/half-plain"]);
    expect(m.scorers.map((s) => s.name)).toEqual(["acme/half-magnitude"]);
    const reg = await loadPlugins(
      [{ package: "./method-plugin.mjs" }, { package: "./one-method.mjs" }],
      ws.dir,
    );
    expect(reg.methods.list().map((d) => d.name)).toEqual([
      "magnitude",
      "neg-magnitude",
      "wanda",
      "sparsegpt",
      "movement",
      "ria",
      "mama",
      "acme/half-refit",
      "acme/half-plain",
      "acme/adaptive",
    ]);
    expect(reg.fromPlugins.methods.map((d) => d.name)).toEqual([
      "acme/half-refit",
      "acme/half-plain",
      "acme/adaptive",
    ]);
    await expect(loadPlugins([{ package: "./bad-method.mjs" }], ws.dir)).rejects.toThrow(
      /method acme\/bad: invalid method definition\. scorer "adaptive" needs redistribution "sparsegpt"/,
    );
    await expect(
      loadPlugins([{ package: "./one-method.mjs" }, { package: "./one-method.mjs" }], ws.dir),
    ).rejects.toThrow(/SCORER_DUPLICATE|already registered/);
  });

  it("prune runs a plugin method from a recipe; its calibration need comes from the method", async () => {
    const base = "model: model\nmethod: acme/half-refit\nsparsity: 0.5\nplugins: [./method-plugin.mjs]\n";
    await writeFile(join(ws.dir, "nocal.yaml"), base);
    const nocal = await runCli(["prune", "--recipe", "nocal.yaml", "--out", "p0", "--quiet"], ws.dir);
    expect(nocal.code).toBe(2);
    expect(nocal.stderr).toMatch(
      /CALIBRATION_INVALID: prune: method acme\/half-refit needs calibration text/,
    );
    await writeFile(
      join(ws.dir, "cal.yaml"),
      `${base}calibration: { text: text.txt, nsamples: 2, seqlen: 16 }\n`,
    );
    const r = await runCli(["prune", "--recipe", "cal.yaml", "--out", "p1", "--json", "--quiet"], ws.dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout).report;
    expect([rep.method, rep.scorer, rep.group, rep.redistribution]).toEqual([
      "acme/half-refit",
      "acme/half-magnitude",
      "row",
      "refit",
    ]);
    expect(rep.overallSparsity).toBe(0.5);
    // The same from flags: --method names the plugin's method, --plugin loads it; the scorer is not overridden.
    const f = await runCli(
      [
        "prune",
        "model",
        "--method",
        "acme/half-refit",
        "--plugin",
        "./method-plugin.mjs",
        "--sparsity",
        "0.5",
        "--calibration",
        "text.txt",
        "--nsamples",
        "2",
        "--seqlen",
        "16",
        "--out",
        "p2",
        "--json",
        "--quiet",
      ],
      ws.dir,
    );
    expect(f.code).toBe(0);
    expect(JSON.parse(f.stdout).report.scorer).toBe("acme/half-magnitude");
    const w1 = await readFile(join(ws.dir, "p1", "model.safetensors"));
    const w2 = await readFile(join(ws.dir, "p2", "model.safetensors"));
    expect(Buffer.compare(w1, w2)).toBe(0);
    // A data-free plugin method needs no calibration.
    const plain = await runCli(
      [
        "prune",
        "model",
        "--method",
        "acme/half-plain",
        "--plugin",
        "./method-plugin.mjs",
        "--sparsity",
        "2:4",
        "--out",
        "p3",
        "--json",
        "--quiet",
      ],
      ws.dir,
    );
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout).report.calibration).toBeUndefined();
  });

  it("sweep uses a plugin method as a column labelled by its definition", async () => {
    await writeFile(
      join(ws.dir, "sweep-method.yaml"),
      `model: model
calibration: { text: text.txt, nsamples: 2, seqlen: 16, seed: 1 }
eval: { seqlen: 16, windows: 2 }
levels: [0.5]
methods: [magnitude, acme/half-plain, acme/half-refit]
plugins: [./method-plugin.mjs]
output: { dir: sweep-out }
`,
    );
    const r = await runCli(["sweep", "--recipe", "sweep-method.yaml", "--json", "--quiet"], ws.dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.table.columns).toEqual(["Magnitude", "Acme plain", "Acme refit"]);
    const half = j.table.values[1] as number[];
    // |W| in the matrix group with no update is magnitude exactly; the refit changes the kept weights.
    expect(half[1]).toBe(half[0]);
    expect(half[2]).not.toBe(half[0]);
    expect(j.runs.map((x: { method: string }) => x.method)).toEqual([
      "magnitude",
      "acme/half-plain",
      "acme/half-refit",
    ]);
  });

  it("an unknown plugin method fails with exit 2 listing the known methods", async () => {
    const r = await runCli(
      [
        "prune",
        "model",
        "--method",
        "acme/nope",
        "--plugin",
        "./method-plugin.mjs",
        "--sparsity",
        "0.5",
        "--out",
        "p4",
      ],
      ws.dir,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^mama-prune: SCORER_NOT_FOUND: prune: option method is unknown\. Expected one of magnitude, .*mama, acme\/half-refit, acme\/half-plain, got "acme\/nope"\.\n$/,
    );
  });
});

describe("exit codes", () => {
  it("derive from core's one code table", () => {
    for (const code of PRUNE_ERROR_CODES) {
      const expected = {
        input: EXIT_CODES.usage,
        failure: EXIT_CODES.failure,
        aborted: EXIT_CODES.interrupted,
      }[pruneErrorKind(code)];
      expect(exitCodeOf(new PruneError(code, "x")), code).toBe(expected);
    }
    expect(exitCodeOf(new PruneError("RECIPE_INVALID", "x"))).toBe(2);
    expect(exitCodeOf(new PruneError("NUMERIC_FAILURE", "x"))).toBe(1);
  });
});
