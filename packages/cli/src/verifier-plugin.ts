// ---- Verifier plugins of `grpo`: the built-in contains-word, or a module loaded like scorer plugins ----

import { PruneError } from "@mama-prune/core";
import { checkVerifier, containsWordVerifier, type VerifierPlugin } from "@mama-prune/distill";
import { importPlugin } from "./plugins.ts";
import type { PluginSpec } from "./recipe.ts";

/** The built-in verifier's name: reward 1 when the completion uses `--word` as a whole word. */
export const CONTAINS_WORD = "contains-word";

function isVerifier(v: unknown): v is VerifierPlugin {
  return typeof v === "object" && v !== null && typeof (v as { verify?: unknown }).verify === "function";
}

/**
 * The verifier of a `grpo` run: `contains-word` (built in; needs `word`), else a plugin module (npm
 * package resolved from `baseDir`, or a path) whose export — `spec.export`, else `verifier`, else the
 * default export, else its only export — is a `VerifierPlugin` object or a factory returning one
 * (called with `spec.options`). The result is checked with `@mama-prune/distill`'s `checkVerifier`.
 *
 * @throws PruneError SCORER_NOT_FOUND (module or export missing, built-in without a word),
 *   SCORER_API_UNSUPPORTED (not a verifier, wrong apiVersion).
 * @example
 * const v = await loadVerifier({ package: "contains-word" }, process.cwd(), "park");
 */
export async function loadVerifier(
  spec: PluginSpec,
  baseDir: string,
  word?: string,
): Promise<VerifierPlugin> {
  if (spec.package === CONTAINS_WORD) {
    if (word === undefined) {
      throw new PruneError(
        "SCORER_NOT_FOUND",
        `verifier ${CONTAINS_WORD}: which word? Expected --word <word> (or recipe.grpo.word), got none.`,
      );
    }
    if (!/^[A-Za-z]+$/.test(word)) {
      throw new PruneError(
        "SCORER_NOT_FOUND",
        `verifier ${CONTAINS_WORD}: --word must be one word of letters, got ${JSON.stringify(word.slice(0, 40))}.`,
      );
    }
    return containsWordVerifier(word);
  }
  const mod = await importPlugin(spec.package, baseDir);
  const exports = Object.keys(mod).filter((k) => mod[k] !== undefined);
  const name =
    spec.export ??
    (mod["verifier"] !== undefined
      ? "verifier"
      : mod["default"] !== undefined
        ? "default"
        : exports.length === 1
          ? exports[0]
          : undefined);
  if (name === undefined || mod[name] === undefined) {
    throw new PruneError(
      "SCORER_NOT_FOUND",
      `verifier ${JSON.stringify(spec.package)}: which export is the verifier? Expected ${spec.export !== undefined ? `an export ${JSON.stringify(spec.export)}` : `a "verifier" or default export (or an "export" key naming one of ${exports.join(", ") || "none"})`}, got none.`,
    );
  }
  let value: unknown = mod[name];
  if (typeof value === "function") value = await (value as (o?: unknown) => unknown)(spec.options);
  if (!isVerifier(value)) {
    throw new PruneError(
      "SCORER_API_UNSUPPORTED",
      `verifier ${JSON.stringify(spec.package)}: export ${name} is not a verifier. Expected { name, apiVersion: 1, verify(prompt, completion) } or a factory returning one, got ${value === null ? "null" : typeof value}.`,
    );
  }
  checkVerifier(value);
  return value;
}
