import { escapeUntrusted } from "./untrusted.ts";

/**
 * What an error code means for the caller: `"input"` = the input is wrong (a bad file, option, recipe,
 * plugin: fix it and retry; the CLI exits 2), `"failure"` = the run failed (numerics, I/O, device,
 * worker; the CLI exits 1), `"aborted"` = stopped through an AbortSignal (the CLI exits 130).
 */
export type PruneErrorKind = "input" | "failure" | "aborted";

/**
 * THE list of stable error codes of MAMA Prune, each with its {@link PruneErrorKind}. Codes never
 * change within a major version; message wording may. {@link PruneErrorCode}, {@link PRUNE_ERROR_CODES}
 * and the CLI's exit codes are all derived from this one table.
 */
export const PRUNE_ERROR_KINDS = {
  TENSOR_IO_MALFORMED: "input",
  TENSOR_IO_UNSUPPORTED: "input",
  TENSOR_IO_NOT_FOUND: "input",
  TENSOR_IO_EXISTS: "input",
  TENSOR_IO_WRITE_FAILED: "failure",
  SHAPE_MISMATCH: "input",
  DTYPE_UNSUPPORTED: "input",
  CONFIG_INVALID: "input",
  ARCH_UNSUPPORTED: "input",
  TOKENIZER_INVALID: "input",
  TOKENIZER_MISMATCH: "input",
  SCORER_DUPLICATE: "input",
  SCORER_API_UNSUPPORTED: "input",
  SCORER_NOT_FOUND: "input",
  SCORER_INPUT_MISSING: "input",
  SCORER_OUTPUT_INVALID: "failure",
  MASK_INVALID: "input",
  SPARSITY_INVALID: "input",
  CALIBRATION_INVALID: "input",
  NUMERIC_FAILURE: "failure",
  EVAL_INVALID: "input",
  RECIPE_INVALID: "input",
  GPU_UNAVAILABLE: "failure",
  GPU_DEVICE_LOST: "failure",
  GPU_LIMIT_EXCEEDED: "failure",
  ABORTED: "aborted",
  DTYPE_OUT_OF_RANGE: "failure",
  BACKEND_UNAVAILABLE: "failure",
  BACKEND_WORKER_FAILED: "failure",
} as const;

/** Stable error codes of MAMA Prune (the keys of {@link PRUNE_ERROR_KINDS}). */
export type PruneErrorCode = keyof typeof PRUNE_ERROR_KINDS;

/** All codes, in the order of {@link PRUNE_ERROR_KINDS}, for validation and documentation. */
export const PRUNE_ERROR_CODES: readonly PruneErrorCode[] = Object.keys(
  PRUNE_ERROR_KINDS,
) as PruneErrorCode[];

/**
 * The {@link PruneErrorKind} of a code.
 *
 * @example
 * pruneErrorKind("RECIPE_INVALID"); // "input"
 */
export function pruneErrorKind(code: PruneErrorCode): PruneErrorKind {
  return PRUNE_ERROR_KINDS[code];
}

/**
 * The one error class of MAMA Prune. Message pattern: `<where>: <what is wrong>. Expected <x>, got <y>.`
 *
 * @example
 * throw new PruneError("TENSOR_IO_MALFORMED", "model.safetensors: header length 9e12 exceeds file size 1024");
 */
export class PruneError extends Error {
  /** Stable machine-readable code. */
  readonly code: PruneErrorCode;
  constructor(code: PruneErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PruneError";
    this.code = code;
  }
}

/**
 * True when `e` is a PruneError (optionally with the given code). Checks the `code` field rather than
 * `instanceof`, so it works across duplicate installs of this package.
 *
 * @example
 * try { … } catch (e) { if (isPruneError(e, "TENSOR_IO_MALFORMED")) … }
 */
export function isPruneError(e: unknown, code?: PruneErrorCode): e is PruneError {
  if (typeof e !== "object" || e === null) return false;
  const c = (e as { code?: unknown }).code;
  if (typeof c !== "string" || !(PRUNE_ERROR_CODES as readonly string[]).includes(c)) return false;
  if ((e as { name?: unknown }).name !== "PruneError") return false;
  return code === undefined || c === code;
}

/**
 * Echo (possibly hostile) input in an error message: strings as they are, other values as JSON,
 * with control characters and bidi overrides escaped and the length bounded (see
 * `escapeUntrusted` in untrusted.ts; `quoteUntrusted` also quotes).
 */
export function truncateForMessage(value: unknown, maxChars = 80): string {
  let s: string;
  try {
    s = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    s = String(value);
  }
  return escapeUntrusted(s, maxChars);
}

/** Throw `ABORTED` if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) {
    const err = new PruneError("ABORTED", `${where}: aborted`, { cause: signal.reason });
    // Also recognisable as a DOM AbortError by name-based checks in callers that expect one.
    throw err;
  }
}
