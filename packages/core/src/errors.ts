import { escapeUntrusted } from "./untrusted.ts";

/**
 * Stable error codes of MAMA Prune. Codes never change within a major version; message wording may.
 */
export type PruneErrorCode =
  | "TENSOR_IO_MALFORMED"
  | "TENSOR_IO_UNSUPPORTED"
  | "TENSOR_IO_NOT_FOUND"
  | "TENSOR_IO_EXISTS"
  | "TENSOR_IO_WRITE_FAILED"
  | "SHAPE_MISMATCH"
  | "DTYPE_UNSUPPORTED"
  | "CONFIG_INVALID"
  | "ARCH_UNSUPPORTED"
  | "TOKENIZER_INVALID"
  | "TOKENIZER_MISMATCH"
  | "SCORER_DUPLICATE"
  | "SCORER_API_UNSUPPORTED"
  | "SCORER_NOT_FOUND"
  | "SCORER_INPUT_MISSING"
  | "SCORER_OUTPUT_INVALID"
  | "MASK_INVALID"
  | "SPARSITY_INVALID"
  | "CALIBRATION_INVALID"
  | "NUMERIC_FAILURE"
  | "EVAL_INVALID"
  | "RECIPE_INVALID"
  | "GPU_UNAVAILABLE"
  | "GPU_DEVICE_LOST"
  | "GPU_LIMIT_EXCEEDED"
  | "ABORTED"
  | "DTYPE_OUT_OF_RANGE"
  | "BACKEND_UNAVAILABLE"
  | "BACKEND_WORKER_FAILED";

/** All codes, for validation and documentation. */
export const PRUNE_ERROR_CODES: readonly PruneErrorCode[] = [
  "TENSOR_IO_MALFORMED",
  "TENSOR_IO_UNSUPPORTED",
  "TENSOR_IO_NOT_FOUND",
  "TENSOR_IO_EXISTS",
  "TENSOR_IO_WRITE_FAILED",
  "SHAPE_MISMATCH",
  "DTYPE_UNSUPPORTED",
  "CONFIG_INVALID",
  "ARCH_UNSUPPORTED",
  "TOKENIZER_INVALID",
  "TOKENIZER_MISMATCH",
  "SCORER_DUPLICATE",
  "SCORER_API_UNSUPPORTED",
  "SCORER_NOT_FOUND",
  "SCORER_INPUT_MISSING",
  "SCORER_OUTPUT_INVALID",
  "MASK_INVALID",
  "SPARSITY_INVALID",
  "CALIBRATION_INVALID",
  "NUMERIC_FAILURE",
  "EVAL_INVALID",
  "RECIPE_INVALID",
  "GPU_UNAVAILABLE",
  "GPU_DEVICE_LOST",
  "GPU_LIMIT_EXCEEDED",
  "ABORTED",
  "DTYPE_OUT_OF_RANGE",
  "BACKEND_UNAVAILABLE",
  "BACKEND_WORKER_FAILED",
];

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
