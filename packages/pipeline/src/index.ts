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
  MAMA_PIPELINE_DEFAULTS,
  METHOD_LABELS,
  PRUNE_METHODS,
  type PruneMethod,
  REDISTRIBUTIONS,
  REFIT_AUTO_MAX_FLOPS,
  type Redistribution,
  type ResolvedMethod,
  type ResolveMethodOptions,
  resolveMethod,
} from "./methods.ts";
export {
  type BlockAccess,
  type CalibrationInput,
  type LinearReport,
  type PruneOptions,
  type PruneProgress,
  type PruneReport,
  type PruneResult,
  type PruneRun,
  prune,
  startPrune,
} from "./prune.ts";
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
export {
  type PerplexityStreamingOptions,
  type PerplexityStreamingResult,
  perplexityStreaming,
  type StreamEvalProgress,
} from "./stream-eval.ts";
export { levelLabel, type SweepLevel, type SweepOptions, type SweepRow, sweep } from "./sweep.ts";
