// ---- Recipe files: YAML or JSON text → validated recipe, every error with file:line:column ----

import { PruneError } from "@mama-prune/core";
import { isMap, isPair, isScalar, isSeq, type Node, parseDocument } from "yaml";
import { type Recipe, validateRecipe } from "./recipe.ts";

/** 1-based line and column of a character offset. */
function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lastNewline = before.lastIndexOf("\n");
  return { line: before.split("\n").length, col: before.length - lastNewline };
}

/** `recipe.methods[2].mama.group` → `["methods", 2, "mama", "group"]` (after the root name). */
export function keyPathSegments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/\.([^.[\]]+)|\[(\d+)\]/g)) {
    out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  }
  return out;
}

/**
 * The character offset of the node a key path names in a parsed document: the value of the last
 * key (or its key, with `atKey`, for unknown keys); the deepest node that exists when the path goes
 * further than the document (a missing key points at the mapping that lacks it).
 */
function offsetOf(root: unknown, segments: readonly (string | number)[], atKey: boolean): number | undefined {
  let node: unknown = root;
  let offset = (root as Node | null)?.range?.[0];
  for (const [i, seg] of segments.entries()) {
    const last = i === segments.length - 1;
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
      );
      if (pair === undefined) return offset;
      const key = pair.key as Node;
      const value = pair.value as Node | null;
      if (last && atKey) return key.range?.[0] ?? offset;
      offset = value?.range?.[0] ?? key.range?.[0] ?? offset;
      node = value;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      if (item === undefined) return offset;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else return offset;
  }
  return offset;
}

/** The JSON.parse error position ("at position 11"), when the engine gives one. */
function jsonErrorOffset(message: string): number | undefined {
  const m = /at position (\d+)/.exec(message);
  return m !== null ? Number(m[1]) : undefined;
}

/**
 * Parse recipe text (YAML, which includes JSON; a `.json` file is parsed as strict JSON) and
 * validate it with {@link validateRecipe}. Every error names the file and the line and column:
 * a syntax error `r.yaml: not valid YAML at line 3, column 5. …`, a validation error (unknown key,
 * wrong type, out-of-range value) `recipe.calibration.nsamples: expected an integer ≥ 1, got 0.
 * (at r.yaml:4:13)` — the position of the offending value (of the key, for an unknown key).
 *
 * @throws PruneError RECIPE_INVALID for a syntax error, an empty file, or anything
 *   {@link validateRecipe} refuses (SPARSITY_INVALID for sparsity levels), with the location.
 * @example
 * parseRecipe("model: m.bin\nmethod: wanda\nsparsity: 0.5\n", "r.yaml").sparsity; // 0.5
 */
export function parseRecipe(text: string, fileName: string): Recipe {
  const json = fileName.endsWith(".json");
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  let data: unknown;
  try {
    if (json) data = JSON.parse(text);
    else {
      const err = doc.errors[0];
      if (err !== undefined) throw err;
      data = doc.toJS();
    }
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
    const pos = json ? jsonErrorOffset(msg) : (e as { pos?: readonly number[] }).pos?.[0];
    const at = pos !== undefined ? lineCol(text, pos) : undefined;
    throw new PruneError(
      "RECIPE_INVALID",
      `${fileName}: not valid ${json ? "JSON" : "YAML"}${at !== undefined ? ` at line ${at.line}, column ${at.col}` : ""}. Expected a recipe mapping, got a syntax error (${msg.slice(0, 120)}).`,
      { cause: e },
    );
  }
  if (data === null || data === undefined) {
    throw new PruneError(
      "RECIPE_INVALID",
      `${fileName}: the recipe is empty. Expected a mapping of recipe keys, got nothing.`,
    );
  }
  try {
    return validateRecipe(data, "recipe");
  } catch (e) {
    if (!(e instanceof PruneError)) throw e;
    const path = /^(recipe(?:\.[^.[\]:\s]+|\[\d+\])*):/.exec(e.message)?.[1];
    if (path === undefined) throw e;
    // A JSON file is valid YAML too: its nodes give the positions the same way.
    const root = json && doc.errors.length > 0 ? undefined : doc.contents;
    const offset = offsetOf(root, keyPathSegments(path), / unknown key\./.test(e.message));
    if (offset === undefined) throw e;
    const at = lineCol(text, offset);
    // Suffixed: the message still starts with the key path, as validateRecipe's do.
    throw new PruneError(e.code, `${e.message} (at ${fileName}:${at.line}:${at.col})`, { cause: e });
  }
}
