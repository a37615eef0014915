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
      "RECIPE_INVALID: r.yaml:5:13: recipe.calibration.nsamples: expected an integer ≥ 1, got 0.",
    );
    const wrongEnum = RECIPE.replace("nsamples: 0", "nsamples: 4");
    expect(message(() => parseRecipe(wrongEnum, "r.yaml"))).toMatch(
      /^RECIPE_INVALID: r\.yaml:9:20: recipe\.methods\[1\]\.mama\.group: expected one of row, matrix, got "colum"\.$/,
    );
    const wrongType = "model: m.bin\nlenient: 1\n";
    expect(message(() => parseRecipe(wrongType, "r.yaml"))).toBe(
      "RECIPE_INVALID: r.yaml:2:10: recipe.lenient: expected true or false, got 1.",
    );
    const badLevel = "levels:\n  - 0.5\n  - 1.5\n";
    expect(message(() => parseRecipe(badLevel, "r.yaml"))).toMatch(
      /^SPARSITY_INVALID: r\.yaml:3:5: recipe\.levels\[1\]/,
    );
  });

  it("points at the key of an unknown key, and at the mapping that lacks a required key", () => {
    const unknown = "model: m.bin\ncalibration:\n  text: t.txt\n  nsample: 4\n";
    expect(message(() => parseRecipe(unknown, "r.yaml"))).toMatch(
      /^RECIPE_INVALID: r\.yaml:4:3: recipe\.calibration\.nsample: unknown key\. Expected one of text, /,
    );
    const missing = "model: m.bin\ncalibration:\n  nsamples: 4\n";
    expect(message(() => parseRecipe(missing, "r.yaml"))).toMatch(
      /^RECIPE_INVALID: r\.yaml:3:3: recipe\.calibration\.text: expected a non-empty string, got nothing\.$/,
    );
  });

  it("locates errors in JSON recipes too", () => {
    const json = '{\n  "model": "m.bin",\n  "eval": { "seqlen": 1 }\n}\n';
    expect(message(() => parseRecipe(json, "r.json"))).toBe(
      "RECIPE_INVALID: r.json:3:23: recipe.eval.seqlen: expected an integer ≥ 2, got 1.",
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
