export {
  type CalibrationSplit,
  type CalibrationWindows,
  type CalibrationWindowsOptions,
  calibrationWindows,
  type SplitCalibrationTextOptions,
  splitCalibrationText,
} from "./calibration.ts";
export {
  prunedCheckpointEntries,
  pruneMetadata,
  type WritePrunedCheckpointOptions,
  writePrunedCheckpoint,
} from "./checkpoint.ts";
export {
  defineMethod,
  isMethodDefinition,
  METHOD_API_VERSION,
  type MethodDefinitionInput,
  type MethodEnvironment,
  type MethodFunction,
  type PruneMethodDefinition,
  REDISTRIBUTIONS,
  REFIT_AUTO_MAX_FLOPS,
  type Redistribution,
  UNSTRUCTURED_GROUPS,
  type UnstructuredGroup,
  validateMethodDefinition,
} from "./method.ts";
export { createMethodRegistry, type MethodRegistry } from "./method-registry.ts";
export {
  BUILTIN_METHODS,
  builtinMethods,
  MAMA_PIPELINE_DEFAULTS,
  METHOD_LABELS,
  type MethodNeeds,
  type MethodNeedsOptions,
  type MethodRef,
  methodNeeds,
  PRUNE_METHODS,
  type PruneMethod,
  type ResolvedMethod,
  type ResolveMethodOptions,
  resolveMethod,
} from "./methods.ts";
export { type BlockAccess, type PruneRun, prune, startPrune } from "./prune.ts";
export { type PruneLinearOptions, type PruneLinearResult, pruneLinear } from "./prune-linear.ts";
export type { CalibrationInput, PruneOptions, PruneProgress } from "./prune-options.ts";
export type { LinearReport, PruneReport, PruneResult } from "./report.ts";
export {
  columnMeans,
  columnNorms,
  createStatsAccumulator,
  type LinearInputStats,
  type StatsAccumulator,
  type StatsNeeds,
} from "./stats.ts";
export {
  type PruneToCheckpointOptions,
  type PruneToCheckpointResult,
  pruneToCheckpoint,
} from "./stream.ts";
export { levelLabel, type SweepLevel, type SweepOptions, type SweepRow, sweep } from "./sweep.ts";
