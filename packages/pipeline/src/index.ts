export {
  type CalibrationProtocolInput,
  type CalibrationSplit,
  type CalibrationWindows,
  type CalibrationWindowsOptions,
  calibrationProtocol,
  calibrationWindows,
  type SplitCalibrationTextOptions,
  splitCalibrationText,
} from "./calibration.ts";
export {
  type ChannelDomain,
  type ChannelPermutation,
  type ChannelPermutationOptions,
  chooseNmChannelPermutation,
  permuteStats,
} from "./channel-permutation.ts";
export {
  type BlockPermutationResult,
  permuteBlockChannels,
} from "./channel-permutation-block.ts";
export {
  prunedCheckpointEntries,
  pruneMetadata,
  type WritePrunedCheckpointOptions,
  writePrunedCheckpoint,
} from "./checkpoint.ts";
export { crossGramAccumulate } from "./dense-stream.ts";
export { type DenseTargetResult, denseTargetWeight, type TargetProductInput } from "./dense-target.ts";
export { embedTokenRows } from "./embed-rows.ts";
export {
  type BlockConditionalObs,
  blockConditionalPrecisions,
  blockKeptDiagonal,
} from "./mama-block-obs.ts";
export {
  type MamaMethodOptions,
  type MamaProcedureSettings,
  mamaLinearProcedure,
  mamaSettings,
  type RefitSolver,
  type RefitSolverOptions,
  type RefitSolverResult,
} from "./mama-linear.ts";
export { type CreateMamaMethodOptions, createMamaMethod } from "./mama-method.ts";
export {
  type MamaSweepInput,
  type MamaSweepResult,
  mamaSweep,
  mamaSweepScore,
  sweepScoreIsObsOnly,
} from "./mama-sweep.ts";
export {
  chooseMamaPath,
  fullInverseDiagonal,
  fullInverseUpper,
  MAMA_EXACT_MAX_MULTIPLY_ADDS,
  MAMA_WIDE_BLOCK,
  MAMA_WIDE_INTERMEDIATE_ITERATIONS,
  MAMA_WIDE_OBS,
  MAMA_WIDE_POLISH_ITERATIONS,
  MAMA_WIDE_SOLVER,
  MAMA_WIDE_STEPS,
  MAMA_WIDE_SWEEPS,
  type MamaPath,
  type MamaPathChoice,
  type MamaWideObs,
  type MamaWideOptions,
  type MamaWideSettings,
  type MamaWideSolver,
  mamaExactCost,
  mamaSweepCost,
  mamaWideCost,
  mamaWideSettings,
} from "./mama-wide.ts";
export { type AdmmMaskOptions, admmMask } from "./mask-admm.ts";
export { type SwapRefineOptions, type SwapRefineResult, swapRefineMask } from "./mask-swap.ts";
export {
  defineMethod,
  isMethodDefinition,
  type LinearProcedure,
  type LinearProcedureInput,
  type LinearProcedureResult,
  METHOD_API_VERSION,
  type MethodDefinitionInput,
  type MethodEnvironment,
  type MethodFunction,
  type PruneMethodDefinition,
  REDISTRIBUTIONS,
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
export { checkOutputFormat } from "./output-format.ts";
export { type BlockAccess, type PruneRun, prune, startPrune } from "./prune.ts";
export { type PruneLinearOptions, type PruneLinearResult, pruneLinear } from "./prune-linear.ts";
export type { CalibrationInput, PruneOptions, PruneProgress } from "./prune-options.ts";
export {
  REFIT_MIN_BLOCK_ROWS,
  REFIT_ROW_BLOCK_FLOATS,
  type RefitKeptOptions,
  type RefitKeptResult,
  refitKept,
} from "./refit-kept.ts";
export type { LinearReport, PruneReport, PruneResult } from "./report.ts";
export {
  type CachedSparseGptFactor,
  type SharedFactorInput,
  type SparseGptFactorCache,
  sharedSparseGptFactor,
} from "./sparsegpt-factor-cache.ts";
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
export { type StreamingPerplexityOptions, streamingPerplexity } from "./stream-perplexity.ts";
export {
  levelLabel,
  type SweepCalibration,
  type SweepLevel,
  type SweepMethod,
  type SweepMethodOptions,
  type SweepOptions,
  type SweepRow,
  type SweepRunInfo,
  sweep,
  sweepMethod,
  toSweepMethod,
} from "./sweep.ts";
export {
  evaluationProtocol,
  type MeasureSweepCalibration,
  type MeasureSweepHooks,
  type MeasureSweepOptions,
  measureSweep,
  type SweepResult,
  type SweepScratchFolder,
  spreadProtocol,
} from "./sweep-measure.ts";
export {
  type SweepJsonRun,
  type SweepReportFile,
  type SweepReportOptions,
  sweepJsonRuns,
  sweepReportFiles,
  sweepSparsityTable,
} from "./sweep-report.ts";
export {
  type TargetProductScratch,
  targetProductAccumulate,
  useTargetProduct,
} from "./target-product.ts";
