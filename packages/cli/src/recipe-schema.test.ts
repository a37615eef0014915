// recipe.schema.json (for editors) checked against the validator: every example recipe is valid
// under it, it has exactly the keys validateRecipe accepts in every section, and its enums are the
// validator's lists.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { PRUNE_METHODS, REDISTRIBUTIONS } from "@mama-prune/pipeline";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { REPO_ROOT } from "../test/fixtures/workspace.ts";
import { OUTPUT_FORMATS, validateRecipe } from "./recipe.ts";

type Schema = Record<string, unknown>;
const schema = JSON.parse(
  await readFile(new URL("../recipe.schema.json", import.meta.url), "utf8"),
) as Schema;

function typeOk(type: string, v: unknown): boolean {
  if (type === "integer") return Number.isInteger(v);
  if (type === "number") return typeof v === "number" && Number.isFinite(v);
  if (type === "object") return typeof v === "object" && v !== null && !Array.isArray(v);
  if (type === "array") return Array.isArray(v);
  return typeof v === type;
}

/** A small JSON Schema (draft-07 subset the recipe schema uses) validator: the list of errors. */
function check(s: Schema, v: unknown, at = "recipe"): string[] {
  if (typeof s["$ref"] === "string") {
    const name = (s["$ref"] as string).replace("#/definitions/", "");
    const def = (schema["definitions"] as Record<string, Schema>)[name];
    if (def === undefined) return [`${at}: unknown $ref ${s["$ref"]}`];
    return check(def, v, at);
  }
  const errs: string[] = [];
  const n = typeof v === "number" ? v : undefined;
  if (typeof s["type"] === "string" && !typeOk(s["type"], v)) return [`${at}: not ${s["type"]}`];
  if (Array.isArray(s["enum"]) && !s["enum"].includes(v)) errs.push(`${at}: not in enum`);
  if (typeof s["pattern"] === "string" && typeof v === "string" && !new RegExp(s["pattern"]).test(v))
    errs.push(`${at}: pattern`);
  if (typeof s["minLength"] === "number" && typeof v === "string" && v.length < s["minLength"])
    errs.push(`${at}: minLength`);
  if (n !== undefined) {
    if (typeof s["minimum"] === "number" && n < s["minimum"]) errs.push(`${at}: minimum`);
    if (typeof s["maximum"] === "number" && n > s["maximum"]) errs.push(`${at}: maximum`);
    if (typeof s["exclusiveMinimum"] === "number" && n <= s["exclusiveMinimum"])
      errs.push(`${at}: exclusiveMinimum`);
    if (typeof s["exclusiveMaximum"] === "number" && n >= s["exclusiveMaximum"])
      errs.push(`${at}: exclusiveMaximum`);
  }
  if (Array.isArray(v)) {
    if (typeof s["minItems"] === "number" && v.length < s["minItems"]) errs.push(`${at}: minItems`);
    if (s["uniqueItems"] === true && new Set(v).size !== v.length) errs.push(`${at}: uniqueItems`);
    if (typeof s["items"] === "object")
      for (const [i, x] of v.entries()) errs.push(...check(s["items"] as Schema, x, `${at}[${i}]`));
  }
  if (typeOk("object", v)) {
    const o = v as Record<string, unknown>;
    const props = (s["properties"] ?? {}) as Record<string, Schema>;
    for (const r of (s["required"] ?? []) as string[]) if (!(r in o)) errs.push(`${at}.${r}: required`);
    for (const [k, x] of Object.entries(o)) {
      if (props[k] !== undefined) errs.push(...check(props[k], x, `${at}.${k}`));
      else if (s["additionalProperties"] === false) errs.push(`${at}.${k}: unknown key`);
    }
  }
  for (const key of ["oneOf", "anyOf"] as const) {
    const list = s[key] as Schema[] | undefined;
    if (list === undefined) continue;
    const ok = list.filter((x) => check(x, v, at).length === 0).length;
    if (key === "oneOf" ? ok !== 1 : ok === 0) errs.push(`${at}: ${key} (${ok} match)`);
  }
  if (typeof s["not"] === "object" && check(s["not"] as Schema, v, at).length === 0) errs.push(`${at}: not`);
  return errs;
}

const defs = schema["definitions"] as Record<string, Schema>;
const props = (s: Schema): Record<string, Schema> => s["properties"] as Record<string, Schema>;
const objectForm = (d: Schema): Schema => (d["oneOf"] as Schema[]).find((x) => x["type"] === "object")!;

/** The keys validateRecipe accepts at a section, from its own "unknown key" message. */
function acceptedKeys(probe: (key: string) => unknown): string[] {
  try {
    validateRecipe(probe("zz-unknown"));
  } catch (e) {
    const m = /unknown key\. Expected one of (.*), got "zz-unknown"\.$/.exec((e as Error).message);
    if (m?.[1] !== undefined) return m[1].split(", ");
    throw e;
  }
  throw new Error("the probe was accepted");
}

async function exampleRecipes(): Promise<{ file: string; text: string }[]> {
  const out: { file: string; text: string }[] = [];
  const root = join(REPO_ROOT, "examples");
  for (const dir of await readdir(root)) {
    const files = await readdir(join(root, dir)).catch(() => []);
    for (const f of files.filter((x) => /\.ya?ml$/.test(x))) {
      out.push({ file: `examples/${dir}/${f}`, text: await readFile(join(root, dir, f), "utf8") });
    }
  }
  const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
  for (const m of readme.matchAll(/```yaml\n([\s\S]*?)```/g)) out.push({ file: "README.md", text: m[1]! });
  return out;
}

describe("recipe.schema.json", () => {
  it("accepts every example recipe (which validateRecipe accepts), and each names the schema", async () => {
    const recipes = await exampleRecipes();
    expect(recipes.length).toBeGreaterThanOrEqual(5);
    for (const r of recipes) {
      const data = parseYaml(r.text);
      expect(() => validateRecipe(data), r.file).not.toThrow();
      expect(check(schema, data), r.file).toEqual([]);
      if (r.file.startsWith("examples/")) {
        expect(r.text, r.file).toMatch(
          /^# yaml-language-server: \$schema=\.\.\/\.\.\/packages\/cli\/recipe\.schema\.json\n/,
        );
      }
    }
  });

  it("has exactly the keys the validator accepts, section by section", () => {
    const sections: [string, Schema, (k: string) => unknown][] = [
      ["recipe", schema, (k) => ({ [k]: 1 })],
      ["calibration", props(schema)["calibration"]!, (k) => ({ calibration: { text: "t", [k]: 1 } })],
      ["eval", props(schema)["eval"]!, (k) => ({ eval: { [k]: 1 } })],
      ["output", props(schema)["output"]!, (k) => ({ output: { [k]: 1 } })],
      ["method", objectForm(defs["method"]!), (k) => ({ method: { name: "wanda", [k]: 1 } })],
      ["mama", defs["mama"]!, (k) => ({ method: { name: "mama", mama: { [k]: 1 } } })],
      [
        "mama.wide",
        props(defs["mama"]!)["wide"]!,
        (k) => ({ method: { name: "mama", mama: { wide: { [k]: 1 } } } }),
      ],
      ["allocation", objectForm(defs["allocation"]!), (k) => ({ allocation: { kind: "owl", [k]: 1 } })],
      ["plugin", objectForm(defs["plugin"]!), (k) => ({ plugins: [{ package: "p", [k]: 1 }] })],
      ["distill", props(schema)["distill"]!, (k) => ({ distill: { teacher: "t", text: "x", [k]: 1 } })],
      ["grpo", props(schema)["grpo"]!, (k) => ({ grpo: { verifier: "v", prompts: "p", [k]: 1 } })],
      [
        "rewardCalibration",
        objectForm(props(props(schema)["grpo"]!)["rewardCalibration"]!),
        (k) => ({ grpo: { verifier: "v", prompts: "p", rewardCalibration: { [k]: 2 } } }),
      ],
    ];
    for (const [name, s, probe] of sections) {
      expect(s["additionalProperties"], name).toBe(false);
      expect(Object.keys(props(s)).sort(), name).toEqual(acceptedKeys(probe).sort());
    }
  });

  it("uses the validator's lists of methods, redistributions and formats", () => {
    const nameForms = defs["methodName"]!["anyOf"] as Schema[];
    expect(nameForms[0]!["enum"]).toEqual([...PRUNE_METHODS]);
    expect(props(objectForm(defs["method"]!))["redistribution"]!["enum"]).toEqual([...REDISTRIBUTIONS]);
    expect(props(props(schema)["output"]!)["format"]!["enum"]).toEqual([...OUTPUT_FORMATS]);
  });

  it("refuses what the validator refuses (the checker is not vacuous)", () => {
    const bad: unknown[] = [
      { calibration: { text: "t", nsamples: 0 } },
      { calibration: { text: "t", seed: 1, seeds: [1, 2] } },
      { output: { format: "sparse-48" } },
      { methods: [] },
      { method: { name: "wanda", group: "col" } },
      { method: "acme" },
      { levels: [1.5] },
      { allocation: { kind: "owl", lambda: 0.5 } },
      { eval: { seqlen: 1 } },
      { lenient: "yes" },
      { plugins: [{ export: "x" }] },
      { modle: "m.bin" },
      { distill: { teacher: "t" } },
      { distill: { teacher: "t", text: "x", alpha: 1.5 } },
      { distill: { teacher: "t", text: "x", steps: 0 } },
      { grpo: { verifier: "contains-word", prompts: "p", groupSize: 1 } },
      { grpo: { verifier: "contains-word", prompts: "p", word: "two words" } },
      { grpo: { verifier: "contains-word", prompts: "p", rewardCalibration: true } },
      { grpo: { verifier: "contains-word", prompts: "p", topP: 0 } },
      { grpo: { prompts: "p" } },
    ];
    for (const b of bad) {
      expect(() => validateRecipe(b), JSON.stringify(b)).toThrow();
      expect(check(schema, b).length, JSON.stringify(b)).toBeGreaterThan(0);
    }
    const training = {
      model: "wanda-50",
      distill: { teacher: "m.bin", text: "t.txt", steps: 5, alpha: 0.1, split: 0.15 },
      grpo: {
        verifier: { package: "./v.js", options: { n: 1 } },
        prompts: "p.txt",
        beta: 0.04,
        rewardCalibration: false,
      },
    };
    expect(() => validateRecipe(training)).not.toThrow();
    expect(check(schema, training)).toEqual([]);
    expect(
      check(schema, { method: "acme/power-refit", sparsity: "2:4", levels: [0.5, "50%", { n: 2, m: 4 }] }),
    ).toEqual([]);
  });
});
