// ---- Exit codes and one-line error messages ----

import { escapeUntrusted, isPruneError, pruneErrorKind } from "@mama-prune/core";

/** The documented exit codes of `mama-prune`. */
export const EXIT_CODES: Readonly<{ ok: 0; failure: 1; usage: 2; interrupted: 130 }> = {
  /** Success. */
  ok: 0,
  /** A runtime failure: numerics, writing output, a plugin crashing, an internal bug. */
  failure: 1,
  /** Bad usage or bad input: flags, recipe, missing/corrupt files, unknown method, bad sparsity, mismatches. */
  usage: 2,
  /** Interrupted (Ctrl-C / SIGINT, or the AbortSignal passed to `main`); nothing partial is left behind. */
  interrupted: 130,
};

/**
 * Error for bad command-line usage (unknown command or flag, missing argument): exit code 2.
 *
 * @example
 * throw new UsageError("eval: missing --seqlen <n>");
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * The exit code for an error thrown by a command: 130 for an abort, 2 for usage and input errors
 * (see {@link EXIT_CODES}), 1 otherwise. Which PruneError codes are input errors comes from
 * `@mama-prune/core`'s one code table (`PRUNE_ERROR_KINDS`: kind `"input"` → 2, `"failure"` → 1).
 *
 * @example
 * exitCodeOf(new PruneError("RECIPE_INVALID", "…")); // 2
 */
export function exitCodeOf(error: unknown): number {
  if (isPruneError(error, "ABORTED") || (error instanceof Error && error.name === "AbortError")) {
    return EXIT_CODES.interrupted;
  }
  if (error instanceof UsageError) return EXIT_CODES.usage;
  if (isPruneError(error)) {
    return pruneErrorKind(error.code) === "input" ? EXIT_CODES.usage : EXIT_CODES.failure;
  }
  return EXIT_CODES.failure;
}

/**
 * One line describing an error for the terminal: `mama-prune: <CODE>: <message>` (only the first
 * line of the message, at most 400 characters, control characters escaped as `\uXXXX` so a name
 * from a crafted file cannot drive the terminal), never a stack trace.
 *
 * @example
 * errorLine(new PruneError("RECIPE_INVALID", "recipe.seed: expected an integer ≥ 0, got -1."));
 * // "mama-prune: RECIPE_INVALID: recipe.seed: expected an integer ≥ 0, got -1."
 */
export function errorLine(error: unknown): string {
  let text: string;
  if (isPruneError(error)) text = `${error.code}: ${error.message}`;
  else if (error instanceof UsageError) text = `${error.message} (see mama-prune --help)`;
  else if (error instanceof Error) text = `${error.name}: ${error.message}`;
  else text = String(error);
  const first = (text.split(/\r?\n/)[0] ?? "").trim();
  return `mama-prune: ${escapeUntrusted(first.length > 400 ? `${first.slice(0, 397)}...` : first, 1000)}`;
}
