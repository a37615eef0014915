// ---- Recipes: JSON or YAML files describing a prune or a sweep, validated by a hand-written schema ----
//
// A hand-written validator instead of a schema library: the recipe has ~30 keys, every error must
// name the exact key path ("recipe.calibration.nsamples: …"), and a dependency for that is not
// worth its weight. Unknown keys are errors, so a typo never silently falls back to a default.
// Files (YAML/JSON text with line:column in errors) are parsed in recipe-file.ts.

import { parseSparsity as parseSparsityText, type Sparsity, validateSparsity } from "@mama-prune/core";
import {
  type MamaMethodOptions,
  type MamaWideOptions,
  PRUNE_METHODS,
  REDISTRIBUTIONS,
  type Redistribution,
} from "@mama-prune/pipeline";
import { bool, fail, int, intIn, num, obj, oneOf, pluginSpec, str } from "./recipe-checks.ts";
import { type DistillRecipe, distillRecipe, type GrpoRecipe, grpoRecipe } from "./recipe-train.ts";

/** Storage formats of `output.format` / `--format` ("sparse-24" is tensor-io's "sparse-24-bitmask"). */
export type OutputFormat = "dense" | "sparse-bitmask" | "sparse-24";

/** Every {@link OutputFormat}. */
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["dense", "sparse-bitmask", "sparse-24"];

/** A third-party plugin (scorers and/or whole methods) loaded by package name (or file path). */
export interface PluginSpec {
  /** npm package name (resolved from the working directory) or a path to a module. */
  readonly package: string;
  /**
   * Named export of the factory (or of a method definition). Default: the `method` / `methods`
   * exports, and the `scorer` export, else the module's only other exported function.
   */
  readonly export?: string;
  /** Argument passed to the factory. */
  readonly options?: Readonly<Record<string, unknown>>;
}

/** One method of a recipe: a built-in or plugin method, optionally with a plugin scorer and option overrides. */
export interface MethodSpec {
  /**
   * A built-in method (`wanda`) or a plugin's method (`acme/power-refit`, always `scope/name`),
   * resolved through the method registry once the plugins are loaded.
   */
  readonly name: string;
  /** Column label in tables and plots. Default: the method's display name (or the scorer name). */
  readonly label?: string;
  /** Replace the method's scorer with a registered plugin scorer (by its `name`). */
  readonly scorer?: string;
  readonly group?: "matrix" | "row" | "block";
  readonly redistribution?: Redistribution;
  readonly mama?: MamaMethodOptions;
  readonly damping?: number;
  readonly blockSize?: number;
  /** Give this method the recipe's pre-trained checkpoint (`pre`) for movement terms. Default true. */
  readonly pre?: boolean;
}

/** Sparsity allocation over blocks. */
export type AllocationSpec =
  | { readonly kind: "uniform" }
  | { readonly kind: "owl"; readonly M?: number; readonly lambda?: number }
  | { readonly kind: "explicit"; readonly perLayer: readonly number[] };

/** A validated recipe (paths are resolved by the command, relative to the recipe file). */
export interface Recipe {
  readonly model?: string;
  readonly tokenizer?: string;
  /** Pre-trained checkpoint (W⁰) for movement terms. */
  readonly pre?: string;
  /** prune: per-window sample weights file (one weight ≥ 0 per calibration window). */
  readonly sampleWeights?: string;
  readonly calibration?: {
    readonly text: string;
    /** Windows drawn; left out: 128 (the anchors' protocol). */
    readonly nsamples?: number;
    /** Tokens per window; left out: min(2048, the model's context). */
    readonly seqlen?: number;
    /** The seed of `prune` (the first of `seeds` when only those are given). */
    readonly seed: number;
    /** sweep: one calibration draw per seed; cells show mean ± sample std. Default `[seed]`. */
    readonly seeds?: readonly number[];
    /** Fraction of paragraphs kept for calibration when the evaluation text is the same file. */
    readonly split: number;
  };
  /** prune: the method. */
  readonly method?: MethodSpec;
  /** prune: the sparsity. */
  readonly sparsity?: Sparsity;
  /** sweep: the methods (columns). */
  readonly methods?: readonly MethodSpec[];
  /** sweep: the levels (rows; the dense model is always row "0"). */
  readonly levels?: readonly Sparsity[];
  readonly allocation?: AllocationSpec;
  readonly eval?: { readonly text?: string; readonly seqlen: number; readonly windows?: number };
  readonly output?: {
    readonly dir?: string;
    readonly format: OutputFormat;
    readonly overwrite: boolean;
    /** Base name of the report files (sweep). Default "sweep". */
    readonly name: string;
    readonly title?: string;
    /** Decimals of the Markdown table (sweep). Default 2. */
    readonly digits?: number;
  };
  readonly plugins?: readonly PluginSpec[];
  /** Read safetensors files leniently (unused bytes, unknown fields), with a warning for each. */
  readonly lenient?: boolean;
  /** distill: knowledge distillation of `model` (the pruned student) from a dense teacher. */
  readonly distill?: DistillRecipe;
  /** grpo: GRPO post-training of `model` with a verifier plugin. */
  readonly grpo?: GrpoRecipe;
}

/**
 * Recipe defaults. Calibration nsamples/seqlen have none here: left out, they are the anchors'
 * protocol, 128 windows × min(2048, the model's context), resolved once the model is open.
 */
export const RECIPE_DEFAULTS: Readonly<{
  seed: number;
  split: number;
  evalSeqlen: number;
}> = { seed: 0, split: 0.15, evalSeqlen: 256 };

/**
 * Parse a sparsity level: a number in [0, 1), a string "0.5" / "50%", or "N:M" with integers
 * 1 ≤ N < M (N zeros in every M consecutive weights of a row, so "2:4" is 50 %); `{ n, m }` is
 * accepted too. The rules are `@mama-prune/core`'s `validateSparsity` (so "0:4" is refused).
 *
 * @throws PruneError SPARSITY_INVALID naming `where` for anything else.
 * @example
 * parseSparsity("2:4", "--sparsity"); // { n: 2, m: 4 }
 * parseSparsity("0.5", "--sparsity"); // 0.5
 */
export function parseSparsity(v: unknown, where: string): Sparsity {
  if (typeof v === "string") return parseSparsityText(v, where);
  return validateSparsity(v, where);
}

/** A plugin method's name: `scope/name` (kebab-case parts), so it can never shadow a built-in. */
const PLUGIN_METHOD_RE = /^@?[a-z0-9]+(?:-[a-z0-9]+)*\/[a-z0-9]+(?:-[a-z0-9]+)*$/;

function methodName(v: unknown, path: string): string {
  if (
    typeof v === "string" &&
    ((PRUNE_METHODS as readonly string[]).includes(v) || PLUGIN_METHOD_RE.test(v))
  ) {
    return v;
  }
  return fail(path, `one of ${PRUNE_METHODS.join(", ")} or a plugin method "scope/name"`, v);
}

const GROUPS = ["matrix", "row", "block"] as const;

function mamaOptions(v: unknown, path: string): MamaMethodOptions {
  const o = obj(v, path, [
    "magnitudeWeight",
    "activationWeight",
    "movementWeight",
    "normalize",
    "group",
    "useActivations",
    "useSampleWeights",
    "useMovement",
    "obsWeight",
    "steps",
    "schedule",
    "refit",
    "refine",
    "refineLevels",
    "refineMaxCols",
    "target",
    "targetBlend",
    "path",
    "permute",
    "wide",
  ]);
  const out: Record<string, unknown> = {};
  for (const k of ["magnitudeWeight", "activationWeight", "movementWeight", "obsWeight"]) {
    if (o[k] !== undefined) out[k] = num(o[k], `${path}.${k}`, (x) => x >= 0, "a number ≥ 0");
  }
  if (o["normalize"] !== undefined)
    out["normalize"] = oneOf(o["normalize"], `${path}.normalize`, ["rank", "zscore"]);
  if (o["group"] !== undefined) out["group"] = oneOf(o["group"], `${path}.group`, ["row", "matrix"]);
  for (const k of ["useActivations", "useSampleWeights", "useMovement", "refit"]) {
    if (o[k] !== undefined) out[k] = bool(o[k], `${path}.${k}`);
  }
  if (o["steps"] !== undefined)
    out["steps"] = num(
      o["steps"],
      `${path}.steps`,
      (x) => Number.isInteger(x) && x >= 1 && x <= 64,
      "an integer in [1, 64]",
    );
  if (o["schedule"] !== undefined)
    out["schedule"] = oneOf(o["schedule"], `${path}.schedule`, ["linear", "cubic"]);
  if (o["refine"] !== undefined) out["refine"] = oneOf(o["refine"], `${path}.refine`, ["none", "swap"]);
  if (o["refineLevels"] !== undefined)
    out["refineLevels"] = oneOf(o["refineLevels"], `${path}.refineLevels`, ["nm", "all"]);
  if (o["refineMaxCols"] !== undefined)
    out["refineMaxCols"] = num(
      o["refineMaxCols"],
      `${path}.refineMaxCols`,
      (x) => Number.isInteger(x) && x >= 0,
      "an integer ≥ 0",
    );
  if (o["target"] !== undefined) out["target"] = oneOf(o["target"], `${path}.target`, ["layer", "dense"]);
  if (o["targetBlend"] !== undefined)
    out["targetBlend"] = num(
      o["targetBlend"],
      `${path}.targetBlend`,
      (x) => x >= 0 && x <= 1,
      "a number in [0, 1]",
    );
  if (o["path"] !== undefined) out["path"] = oneOf(o["path"], `${path}.path`, ["auto", "exact", "wide"]);
  if (o["permute"] !== undefined)
    out["permute"] = oneOf(o["permute"], `${path}.permute`, ["none", "channels"]);
  if (o["wide"] !== undefined) out["wide"] = mamaWide(o["wide"], `${path}.wide`);
  return out as MamaMethodOptions;
}

/** MAMA's wide-path knobs (`mama.wide`): the same keys and ranges as the library's `mamaWideSettings`. */
function mamaWide(v: unknown, path: string): MamaWideOptions {
  const o = obj(v, path, [
    "solver",
    "polishIterations",
    "sweeps",
    "steps",
    "intermediateIterations",
    "obs",
    "block",
  ]);
  const out: Record<string, unknown> = {};
  if (o["solver"] !== undefined) out["solver"] = oneOf(o["solver"], `${path}.solver`, ["sweep", "pcg"]);
  if (o["obs"] !== undefined) out["obs"] = oneOf(o["obs"], `${path}.obs`, ["full", "block", "kept"]);
  const ranges: [string, number, number | undefined][] = [
    ["polishIterations", 0, undefined],
    ["sweeps", 1, 16],
    ["steps", 1, 64],
    ["intermediateIterations", 0, undefined],
    ["block", 1, undefined],
  ];
  for (const [k, lo, hi] of ranges) {
    if (o[k] === undefined) continue;
    out[k] = num(
      o[k],
      `${path}.${k}`,
      (x) => Number.isInteger(x) && x >= lo && (hi === undefined || x <= hi),
      hi === undefined ? `an integer ≥ ${lo}` : `an integer in [${lo}, ${hi}]`,
    );
  }
  return out as MamaWideOptions;
}

function methodSpec(v: unknown, path: string): MethodSpec {
  if (typeof v === "string") return { name: methodName(v, path) };
  const o = obj(v, path, [
    "name",
    "label",
    "scorer",
    "group",
    "redistribution",
    "mama",
    "damping",
    "blockSize",
    "pre",
  ]);
  const out: { -readonly [K in keyof MethodSpec]: MethodSpec[K] } = {
    name: methodName(o["name"], `${path}.name`),
  };
  if (o["label"] !== undefined) out.label = str(o["label"], `${path}.label`);
  if (o["scorer"] !== undefined) out.scorer = str(o["scorer"], `${path}.scorer`);
  if (o["group"] !== undefined) out.group = oneOf(o["group"], `${path}.group`, GROUPS);
  if (o["redistribution"] !== undefined) {
    out.redistribution = oneOf(o["redistribution"], `${path}.redistribution`, REDISTRIBUTIONS);
  }
  if (o["mama"] !== undefined) out.mama = mamaOptions(o["mama"], `${path}.mama`);
  if (o["damping"] !== undefined)
    out.damping = num(o["damping"], `${path}.damping`, (x) => x > 0, "a number > 0");
  if (o["blockSize"] !== undefined) out.blockSize = int(o["blockSize"], `${path}.blockSize`, 1);
  if (o["pre"] !== undefined) out.pre = bool(o["pre"], `${path}.pre`);
  return out;
}

/**
 * Parse calibration seeds: a non-empty list of distinct integers ≥ 0 (from a recipe list or the
 * comma-separated `--seeds 0,1,2`).
 *
 * @throws PruneError RECIPE_INVALID naming `where` for anything else.
 * @example
 * parseSeeds("0,1,2", "--seeds"); // [0, 1, 2]
 */
export function parseSeeds(v: unknown, where: string): number[] {
  const list =
    typeof v === "string" ? v.split(",").map((x) => (x.trim() === "" ? Number.NaN : Number(x))) : v;
  if (!Array.isArray(list) || list.length === 0) fail(where, "a non-empty list of seeds (integers ≥ 0)", v);
  const seeds = list.map((x, i) => int(x, `${where}[${i}]`, 0));
  if (new Set(seeds).size !== seeds.length) fail(where, "distinct seeds", seeds.join(", "));
  return seeds;
}

/**
 * Validate a parsed recipe object. Unknown keys, wrong types and out-of-range values are
 * `PruneError("RECIPE_INVALID")` (or `SPARSITY_INVALID` for levels) whose message starts with the
 * key path, e.g. `recipe.calibration.nsamples: expected an integer ≥ 1, got 0.`
 *
 * @throws PruneError RECIPE_INVALID, SPARSITY_INVALID.
 * @example
 * validateRecipe({ model: "m.bin", method: "wanda", sparsity: 0.5 }).method; // { name: "wanda" }
 */
export function validateRecipe(input: unknown, name = "recipe"): Recipe {
  const r = obj(input, name, [
    "model",
    "tokenizer",
    "pre",
    "sampleWeights",
    "calibration",
    "method",
    "sparsity",
    "methods",
    "levels",
    "allocation",
    "eval",
    "output",
    "plugins",
    "lenient",
    "distill",
    "grpo",
  ]);
  const out: { -readonly [K in keyof Recipe]: Recipe[K] } = {};
  for (const k of ["model", "tokenizer", "pre", "sampleWeights"] as const) {
    if (r[k] !== undefined) out[k] = str(r[k], `${name}.${k}`);
  }
  if (r["calibration"] !== undefined) {
    const p = `${name}.calibration`;
    const c = obj(r["calibration"], p, ["text", "nsamples", "seqlen", "seed", "seeds", "split"]);
    if (c["seed"] !== undefined && c["seeds"] !== undefined) {
      fail(`${p}.seeds`, "either seed or seeds, not both", c["seeds"]);
    }
    const seeds = c["seeds"] !== undefined ? parseSeeds(c["seeds"], `${p}.seeds`) : undefined;
    out.calibration = {
      text: str(c["text"], `${p}.text`),
      ...(c["nsamples"] !== undefined ? { nsamples: int(c["nsamples"], `${p}.nsamples`, 1) } : {}),
      ...(c["seqlen"] !== undefined ? { seqlen: int(c["seqlen"], `${p}.seqlen`, 2) } : {}),
      seed:
        seeds !== undefined
          ? seeds[0]!
          : c["seed"] === undefined
            ? RECIPE_DEFAULTS.seed
            : int(c["seed"], `${p}.seed`, 0),
      ...(seeds !== undefined ? { seeds } : {}),
      split:
        c["split"] === undefined
          ? RECIPE_DEFAULTS.split
          : num(c["split"], `${p}.split`, (x) => x > 0 && x < 1, "a fraction in (0, 1)"),
    };
  }
  if (r["method"] !== undefined) out.method = methodSpec(r["method"], `${name}.method`);
  if (r["sparsity"] !== undefined) out.sparsity = parseSparsity(r["sparsity"], `${name}.sparsity`);
  if (r["methods"] !== undefined) {
    const ms = r["methods"];
    if (!Array.isArray(ms) || ms.length === 0) fail(`${name}.methods`, "a non-empty list of methods", ms);
    out.methods = ms.map((m, i) => methodSpec(m, `${name}.methods[${i}]`));
  }
  if (r["levels"] !== undefined) {
    const ls = r["levels"];
    if (!Array.isArray(ls) || ls.length === 0)
      fail(`${name}.levels`, "a non-empty list of sparsity levels", ls);
    out.levels = ls.map((l, i) => parseSparsity(l, `${name}.levels[${i}]`));
  }
  if (r["allocation"] !== undefined) {
    const p = `${name}.allocation`;
    const a = r["allocation"];
    if (typeof a === "string") {
      const kind = oneOf(a, p, ["uniform", "owl"] as const);
      out.allocation = { kind };
    } else {
      const o = obj(a, p, ["kind", "M", "lambda", "perLayer"]);
      const kind = oneOf(o["kind"], `${p}.kind`, ["uniform", "owl", "explicit"] as const);
      for (const [key, owner] of [
        ["M", "owl"],
        ["lambda", "owl"],
        ["perLayer", "explicit"],
      ] as const) {
        if (o[key] !== undefined && kind !== owner)
          fail(`${p}.kind`, `"${owner}" when ${key} is given`, kind);
      }
      if (kind === "uniform") {
        out.allocation = { kind };
      } else if (kind === "explicit") {
        const pl = o["perLayer"];
        if (!Array.isArray(pl) || pl.length === 0)
          fail(`${p}.perLayer`, "a non-empty list of sparsities, one per block", pl);
        out.allocation = {
          kind,
          perLayer: pl.map((x, i) =>
            num(x, `${p}.perLayer[${i}]`, (v) => v >= 0 && v < 1, "a number in [0, 1)"),
          ),
        };
      } else {
        out.allocation = {
          kind,
          ...(o["M"] !== undefined ? { M: num(o["M"], `${p}.M`, (x) => x > 0, "a number > 0") } : {}),
          ...(o["lambda"] !== undefined
            ? { lambda: num(o["lambda"], `${p}.lambda`, (x) => x >= 0 && x < 0.5, "a number in [0, 0.5)") }
            : {}),
        };
      }
    }
  }
  if (r["eval"] !== undefined) {
    const p = `${name}.eval`;
    const e = obj(r["eval"], p, ["text", "seqlen", "windows"]);
    out.eval = {
      ...(e["text"] !== undefined ? { text: str(e["text"], `${p}.text`) } : {}),
      seqlen: e["seqlen"] === undefined ? RECIPE_DEFAULTS.evalSeqlen : int(e["seqlen"], `${p}.seqlen`, 2),
      ...(e["windows"] !== undefined ? { windows: int(e["windows"], `${p}.windows`, 1) } : {}),
    };
  }
  if (r["output"] !== undefined) {
    const p = `${name}.output`;
    const o = obj(r["output"], p, ["dir", "format", "overwrite", "name", "title", "digits"]);
    out.output = {
      ...(o["dir"] !== undefined ? { dir: str(o["dir"], `${p}.dir`) } : {}),
      format: o["format"] === undefined ? "dense" : oneOf(o["format"], `${p}.format`, OUTPUT_FORMATS),
      overwrite: o["overwrite"] === undefined ? false : bool(o["overwrite"], `${p}.overwrite`),
      name: o["name"] === undefined ? "sweep" : fileStem(str(o["name"], `${p}.name`), `${p}.name`),
      ...(o["title"] !== undefined ? { title: str(o["title"], `${p}.title`) } : {}),
      ...(o["digits"] !== undefined ? { digits: intIn(o["digits"], `${p}.digits`, 0, 12) } : {}),
    };
  }
  if (r["lenient"] !== undefined) out.lenient = bool(r["lenient"], `${name}.lenient`);
  if (r["distill"] !== undefined) out.distill = distillRecipe(r["distill"], `${name}.distill`);
  if (r["grpo"] !== undefined) out.grpo = grpoRecipe(r["grpo"], `${name}.grpo`);
  if (r["plugins"] !== undefined) {
    const ps = r["plugins"];
    if (!Array.isArray(ps)) fail(`${name}.plugins`, "a list of plugin packages", ps);
    out.plugins = ps.map((p, i) => pluginSpec(p, `${name}.plugins[${i}]`));
  }
  return out;
}

function fileStem(s: string, path: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(s) || s.startsWith(".")) {
    fail(path, "a file name of letters, digits, '.', '_' or '-'", s);
  }
  return s;
}

export { parseRecipe } from "./recipe-file.ts";
