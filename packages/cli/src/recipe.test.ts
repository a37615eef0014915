import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { parseRecipe, parseSparsity, validateRecipe } from "./recipe.ts";

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
  throw new Error("expected a throw");
}

const FULL = `
model: data/stories260K/stories260K.bin
tokenizer: data/stories260K/tok512.bin
calibration:
  text: data/tinystories/tinystories_val.txt
  nsamples: 32
  seqlen: 128
  seed: 7
  split: 0.2
methods:
  - magnitude
  - { name: wanda, label: "Wanda (rows)" }
  - name: mama
    redistribution: refit
    mama: { magnitudeWeight: 0.5, activationWeight: 1, normalize: zscore }
levels: [0.5, 0.7, "2:4", "60%"]
allocation: { kind: owl, lambda: 0.08, M: 5 }
eval: { seqlen: 256, windows: 16 }
output: { dir: results, name: table2, format: sparse-bitmask, title: "Table 2" }
plugins:
  - "@acme/prune-scorer-sqrt"
  - { package: ./plugin.ts, export: sqrtActivation, options: { power: 0.5 } }
`;

describe("parseRecipe", () => {
  it("reads a full YAML recipe with defaults filled in", () => {
    const r = parseRecipe(FULL, "r.yaml");
    expect(r.calibration).toEqual({
      text: "data/tinystories/tinystories_val.txt",
      nsamples: 32,
      seqlen: 128,
      seed: 7,
      split: 0.2,
    });
    expect(r.methods).toEqual([
      { name: "magnitude" },
      { name: "wanda", label: "Wanda (rows)" },
      {
        name: "mama",
        redistribution: "refit",
        mama: { magnitudeWeight: 0.5, activationWeight: 1, normalize: "zscore" },
      },
    ]);
    expect(r.levels).toEqual([0.5, 0.7, { n: 2, m: 4 }, 0.6]);
    expect(r.allocation).toEqual({ kind: "owl", lambda: 0.08, M: 5 });
    expect(r.eval).toEqual({ seqlen: 256, windows: 16 });
    expect(r.output).toEqual({
      dir: "results",
      name: "table2",
      format: "sparse-bitmask",
      overwrite: false,
      title: "Table 2",
    });
    expect(r.plugins).toEqual([
      { package: "@acme/prune-scorer-sqrt" },
      { package: "./plugin.ts", export: "sqrtActivation", options: { power: 0.5 } },
    ]);
  });

  it("reads JSON strictly and fills calibration defaults (nsamples/seqlen left out: resolved from the model later)", () => {
    const r = parseRecipe(
      '{"model": "m.bin", "method": "wanda", "sparsity": "2:4", "calibration": {"text": "t.txt"}}',
      "r.json",
    );
    expect(r.method).toEqual({ name: "wanda" });
    expect(r.sparsity).toEqual({ n: 2, m: 4 });
    expect(r.calibration).toEqual({ text: "t.txt", seed: 0, split: 0.15 });
    expect(parseRecipe("lenient: true\n", "r.yaml").lenient).toBe(true);
    const m = parseRecipe(
      "method:\n  name: mama\n  mama: { target: layer, targetBlend: 0.5, refine: none, refineLevels: all, refineMaxCols: 64, path: exact, permute: none }\n",
      "r.yaml",
    ).method;
    expect(typeof m === "object" ? m.mama : undefined).toEqual({
      target: "layer",
      targetBlend: 0.5,
      refine: "none",
      refineLevels: "all",
      refineMaxCols: 64,
      path: "exact",
      permute: "none",
    });
    const w = parseRecipe(
      "method:\n  name: mama\n  mama: { wide: { solver: pcg, polishIterations: 3, sweeps: 2, steps: 4, intermediateIterations: 0, obs: block, block: 32 } }\n",
      "r.yaml",
    ).method;
    expect(typeof w === "object" ? w.mama : undefined).toEqual({
      wide: {
        solver: "pcg",
        polishIterations: 3,
        sweeps: 2,
        steps: 4,
        intermediateIterations: 0,
        obs: "block",
        block: 32,
      },
    });
    for (const [bad, msg] of [
      ["solver: gradual", /recipe\.method\.mama\.wide\.solver: expected one of sweep, pcg, got "gradual"/],
      ["sweeps: 17", /recipe\.method\.mama\.wide\.sweeps: expected an integer in \[1, 16\], got 17/],
      [
        "polishIterations: 1.5",
        /recipe\.method\.mama\.wide\.polishIterations: expected an integer ≥ 0, got 1\.5/,
      ],
      ["steps: 0", /recipe\.method\.mama\.wide\.steps: expected an integer in \[1, 64\], got 0/],
      [
        "iterations: 3",
        /recipe\.method\.mama\.wide\.iterations: unknown key\. Expected one of solver, polishIterations/,
      ],
    ] as const) {
      expect(() => parseRecipe(`method:\n  name: mama\n  mama: { wide: { ${bad} } }\n`, "r.yaml")).toThrow(
        msg,
      );
    }
    expect(() => parseRecipe("lenient: 1\n", "r.yaml")).toThrow(
      /recipe\.lenient: expected true or false, got 1/,
    );
  });

  it("names syntax errors and empty files", () => {
    expect(message(() => parseRecipe("model: [unclosed", "r.yaml"))).toMatch(
      /^RECIPE_INVALID: r\.yaml: not valid YAML/,
    );
    expect(message(() => parseRecipe("{", "r.json"))).toMatch(/^RECIPE_INVALID: r\.json: not valid JSON/);
    expect(message(() => parseRecipe("", "r.yaml"))).toMatch(/r\.yaml: the recipe is empty/);
    expect(message(() => parseRecipe("a: 1\na: 2\n", "r.yaml"))).toMatch(/not valid YAML/);
  });
});

describe("validateRecipe", () => {
  const cases: [string, unknown, string][] = [
    [
      "nsamples 0",
      { calibration: { text: "t", nsamples: 0 } },
      "RECIPE_INVALID: recipe.calibration.nsamples: expected an integer ≥ 1, got 0.",
    ],
    [
      "a fractional seqlen",
      { calibration: { text: "t", seqlen: 2.5 } },
      "RECIPE_INVALID: recipe.calibration.seqlen: expected an integer ≥ 2, got 2.5.",
    ],
    ["an unknown top-level key", { modle: "m.bin" }, "RECIPE_INVALID: recipe.modle: unknown key."],
    [
      "an unknown nested key",
      { eval: { seqlen: 8, windowz: 2 } },
      "RECIPE_INVALID: recipe.eval.windowz: unknown key.",
    ],
    [
      "an unknown method",
      { methods: ["wanda", "magic"] },
      'RECIPE_INVALID: recipe.methods[1]: expected one of magnitude, neg-magnitude, wanda, sparsegpt, movement, ria, mama or a plugin method "scope/name", got "magic".',
    ],
    [
      "an unknown method option",
      { method: { name: "mama", mama: { magnitudeWeigth: 1 } } },
      "RECIPE_INVALID: recipe.method.mama.magnitudeWeigth: unknown key.",
    ],
    [
      "a negative mama weight",
      { method: { name: "mama", mama: { activationWeight: -1 } } },
      "RECIPE_INVALID: recipe.method.mama.activationWeight: expected a number ≥ 0, got -1.",
    ],
    [
      "a dense-target blend outside [0, 1]",
      { method: { name: "mama", mama: { target: "dense", targetBlend: 1.5 } } },
      "RECIPE_INVALID: recipe.method.mama.targetBlend: expected a number in [0, 1], got 1.5.",
    ],
    [
      "an unknown refit target",
      { method: { name: "mama", mama: { target: "teacher" } } },
      "RECIPE_INVALID: recipe.method.mama.target: expected one of",
    ],
    [
      "a level of 1",
      { levels: [0.5, 1] },
      "SPARSITY_INVALID: recipe.levels[1]: sparsity is out of range. Expected a number in [0, 1), got 1.",
    ],
    [
      "an N:M level with N ≥ M",
      { levels: ["4:2"] },
      "SPARSITY_INVALID: recipe.levels[0]: sparsity is an invalid N:M pattern. Expected integers 1 <= n < m",
    ],
    [
      "an empty method list",
      { methods: [] },
      "RECIPE_INVALID: recipe.methods: expected a non-empty list of methods, got a list.",
    ],
    [
      "a bad output format",
      { output: { format: "zip" } },
      'RECIPE_INVALID: recipe.output.format: expected one of dense, sparse-bitmask, sparse-24, got "zip".',
    ],
    [
      "a path-like output name",
      { output: { name: "../x" } },
      "RECIPE_INVALID: recipe.output.name: expected a file name",
    ],
    [
      "a bad OWL lambda",
      { allocation: { kind: "owl", lambda: 0.7 } },
      "RECIPE_INVALID: recipe.allocation.lambda: expected a number in [0, 0.5), got 0.7.",
    ],
    [
      "perLayer without explicit",
      { allocation: { kind: "owl", perLayer: [0.5] } },
      'RECIPE_INVALID: recipe.allocation.kind: expected "explicit" when perLayer is given, got "owl".',
    ],
    [
      "a per-layer sparsity of 1",
      { allocation: { kind: "explicit", perLayer: [0.5, 1] } },
      "RECIPE_INVALID: recipe.allocation.perLayer[1]: expected a number in [0, 1), got 1.",
    ],
    [
      "a plugin without package",
      { plugins: [{ export: "x" }] },
      "RECIPE_INVALID: recipe.plugins[0].package: expected a non-empty string, got nothing.",
    ],
    [
      "a split of 1",
      { calibration: { text: "t", split: 1 } },
      "RECIPE_INVALID: recipe.calibration.split: expected a fraction in (0, 1), got 1.",
    ],
    ["a list at the top", [1, 2], "RECIPE_INVALID: recipe: expected a mapping, got a list."],
  ];
  for (const [what, input, expected] of cases) {
    it(`names the key for ${what}`, () => {
      expect(message(() => validateRecipe(input))).toContain(expected);
    });
  }

  it("accepts an explicit per-block allocation", () => {
    expect(validateRecipe({ allocation: { kind: "explicit", perLayer: [0.4, 0.6] } }).allocation).toEqual({
      kind: "explicit",
      perLayer: [0.4, 0.6],
    });
  });

  it("throws PruneErrors that isPruneError recognises", () => {
    let err: unknown;
    try {
      validateRecipe({ calibration: { text: "t", nsamples: 0 } });
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "RECIPE_INVALID")).toBe(true);
  });
});

describe("parseSparsity", () => {
  it("accepts fractions, percentages and N:M, refusing the rest", () => {
    expect(parseSparsity("0.5", "x")).toBe(0.5);
    expect(parseSparsity("0", "x")).toBe(0);
    expect(parseSparsity("70%", "x")).toBeCloseTo(0.7, 12);
    expect(parseSparsity(" 2 : 4 ", "x")).toEqual({ n: 2, m: 4 });
    expect(parseSparsity({ n: 2, m: 4 }, "x")).toEqual({ n: 2, m: 4 });
    // 0:4 prunes nothing: refused by core's one validation (it used to be accepted here only).
    expect(() => parseSparsity("0:4", "--sparsity")).toThrow(
      "--sparsity: sparsity is an invalid N:M pattern. Expected integers 1 <= n < m (n zeros in every m consecutive weights), got n=0, m=4.",
    );
    for (const bad of ["1", "1.0", "-0.1", "abc", "", "4:4", "3:0", "100%", Number.NaN, null, true]) {
      expect(() => parseSparsity(bad, "--sparsity")).toThrow(/--sparsity/);
    }
  });
});
