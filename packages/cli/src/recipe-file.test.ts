// Recipe file errors name the file, the key path and the line:column of the offending node.
import { describe, expect, it } from "vitest";
import { keyPathSegments, parseRecipe } from "./recipe-file.ts";

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
  throw new Error("expected a throw");
}

const RECIPE = `# a sweep
model: m.bin
calibration:
  text: t.txt
  nsamples: 0
methods:
  - wanda
  - name: mama
    mama: { group: colum }
levels: [0.5, 0.7]
`;

describe("parseRecipe locations", () => {
  it("splits key paths into segments", () => {
    expect(keyPathSegments("recipe.methods[1].mama.group")).toEqual(["methods", 1, "mama", "group"]);
    expect(keyPathSegments("recipe.levels[0]")).toEqual(["levels", 0]);
  });

  it("gives the line and column of a wrong value, a wrong type and an out-of-range value", () => {
    expect(message(() => parseRecipe(RECIPE, "r.yaml"))).toBe(
      "RECIPE_INVALID: recipe.calibration.nsamples: expected an integer ≥ 1, got 0. (at r.yaml:5:13)",
    );
    const wrongEnum = RECIPE.replace("nsamples: 0", "nsamples: 4");
    expect(message(() => parseRecipe(wrongEnum, "r.yaml"))).toMatch(
      /^RECIPE_INVALID: recipe\.methods\[1\]\.mama\.group: expected one of row, matrix, got "colum"\. \(at r\.yaml:9:20\)$/,
    );
    const wrongType = "model: m.bin\nlenient: 1\n";
    expect(message(() => parseRecipe(wrongType, "r.yaml"))).toBe(
      "RECIPE_INVALID: recipe.lenient: expected true or false, got 1. (at r.yaml:2:10)",
    );
    const badLevel = "levels:\n  - 0.5\n  - 1.5\n";
    expect(message(() => parseRecipe(badLevel, "r.yaml"))).toMatch(
      /^SPARSITY_INVALID: recipe\.levels\[1\].* \(at r\.yaml:3:5\)$/,
    );
  });

  it("points at the key of an unknown key, and at the mapping that lacks a required key", () => {
    const unknown = "model: m.bin\ncalibration:\n  text: t.txt\n  nsample: 4\n";
    expect(message(() => parseRecipe(unknown, "r.yaml"))).toMatch(
      /^RECIPE_INVALID: recipe\.calibration\.nsample: unknown key\. Expected one of text, .* \(at r\.yaml:4:3\)$/,
    );
    const missing = "model: m.bin\ncalibration:\n  nsamples: 4\n";
    expect(message(() => parseRecipe(missing, "r.yaml"))).toMatch(
      /^RECIPE_INVALID: recipe\.calibration\.text: expected a non-empty string, got nothing\. \(at r\.yaml:3:3\)$/,
    );
  });

  it("locates errors in JSON recipes too", () => {
    const json = '{\n  "model": "m.bin",\n  "eval": { "seqlen": 1 }\n}\n';
    expect(message(() => parseRecipe(json, "r.json"))).toBe(
      "RECIPE_INVALID: recipe.eval.seqlen: expected an integer ≥ 2, got 1. (at r.json:3:23)",
    );
  });

  it("gives the line and column of YAML and JSON syntax errors", () => {
    expect(message(() => parseRecipe("model: m.bin\nmethods: [wanda\n", "r.yaml"))).toMatch(
      /^RECIPE_INVALID: r\.yaml: not valid YAML at line 3, column 1\. Expected a recipe mapping, got a syntax error \(/,
    );
    expect(message(() => parseRecipe("model: m.bin\nmodel: x\n", "r.yaml"))).toMatch(
      /^RECIPE_INVALID: r\.yaml: not valid YAML at line 2, column 1\. .*\(Map keys must be unique/,
    );
    expect(message(() => parseRecipe('{\n  "model": "m.bin",\n}\n', "r.json"))).toMatch(
      /^RECIPE_INVALID: r\.json: not valid JSON at line 3, column 1\./,
    );
  });
});

describe("mama-prune with a bad recipe file", () => {
  it("prints one line naming the file, the line and column and the key path", async () => {
    const { mkdtemp, rm, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { main } = await import("./main.ts");
    const dir = await mkdtemp(join(tmpdir(), "recipe-loc-"));
    try {
      await writeFile(
        join(dir, "bad.yaml"),
        "model: m.bin\nmethod: wanda\nsparsity: 0.5\noutput:\n  format: sparse-48\n",
      );
      let stderr = "";
      const code = await main(["prune", "--recipe", "bad.yaml"], {
        stdout: () => {},
        stderr: (s) => (stderr += s),
        cwd: dir,
      });
      expect(code).toBe(2);
      expect(stderr).toBe(
        'mama-prune: RECIPE_INVALID: recipe.output.format: expected one of dense, sparse-bitmask, sparse-24, got "sparse-48". (at bad.yaml:5:11)\n',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
