export {
  type AttentionLayout,
  type ComputeBackend,
  checkDims,
  checkGramShapes,
  checkMatmulShapes,
  type GramOptions,
  type MatmulOptions,
} from "./compute.ts";
export {
  isPruneError,
  PRUNE_ERROR_CODES,
  PRUNE_ERROR_KINDS,
  PruneError,
  type PruneErrorCode,
  type PruneErrorKind,
  pruneErrorKind,
  throwIfAborted,
  truncateForMessage,
} from "./errors.ts";
export { sha256Hex } from "./hash.ts";
export { kthSmallest } from "./kth-smallest.ts";
export { createMemoryLogger, type Logger, type LogRecord, SILENT_LOGGER } from "./logger.ts";
export { type Matrix, matrix, numel } from "./matrix.ts";
export { createRng, type Rng, randomNormal } from "./rng.ts";
export {
  countZeros,
  isNmPattern,
  type NmPattern,
  nmGroupPruned,
  nmRowPruned,
  parseSparsity,
  type Sparsity,
  sparsityFraction,
  sparsityLabel,
  type ValidateSparsityOptions,
  validateSparsity,
} from "./sparsity.ts";
export { mirrorUpperToLower, type TransposeOptions, transposeInto } from "./transpose.ts";
export { escapeUntrusted, quoteUntrusted, UNTRUSTED_MAX_CHARS } from "./untrusted.ts";
export { createYielder, type Yielder, type YielderOptions } from "./yielder.ts";
