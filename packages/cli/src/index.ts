/** Display names of the built-in methods; defined in @mama-prune/pipeline, re-exported for compatibility. */
export { METHOD_LABELS } from "@mama-prune/pipeline";
export {
  checkCalibrationLength,
  DEFAULT_CALIBRATION_MAX_SEQLEN,
  DEFAULT_CALIBRATION_NSAMPLES,
  type ResolvedCalibrationSize,
  resolveCalibrationSize,
} from "./calibration-protocol.ts";
export type { CommandContext } from "./commands/context.ts";
export {
  DISTILL_DEFAULTS,
  type DistillCommandResult,
  type DistillJob,
  formatDistill,
  runDistill,
} from "./commands/distill.ts";
export { type EvalJob, runEval } from "./commands/eval.ts";
export {
  formatGrpo,
  GRPO_DEFAULTS,
  type GrpoCommandResult,
  type GrpoJob,
  REWARD_CALIBRATION_FILE,
  readPrompts,
  runGrpo,
} from "./commands/grpo.ts";
export { formatInspect, type InspectResult, runInspect } from "./commands/inspect.ts";
export { formatPrune, type PruneCommandResult, type PruneJob, runPrune } from "./commands/prune.ts";
export {
  type RunSweepOptions,
  runSweep,
  type SweepCommandResult,
  type SweepRun,
} from "./commands/sweep.ts";
export { EXIT_CODES, errorLine, exitCodeOf, UsageError } from "./exit-codes.ts";
export {
  findTokenizer,
  type LoadedTokenizer,
  loadTokenizer,
  type OpenModelOptions,
  openModel,
  readText,
  tokenizerFor,
} from "./inputs.ts";
export { formatInspectAny, runInspectAny } from "./inspect-any.ts";
export { formatFileInspect, type SafetensorsFileInspectResult } from "./inspect-file.ts";
export type { CliIo } from "./io.ts";
export { CLI_VERSION, HELP, main } from "./main.ts";
export { overrideMethodName } from "./overrides.ts";
export {
  type LoadedPlugin,
  loadPlugin,
  loadPluginModule,
  loadPlugins,
  type PluginRegistries,
  pluginRegistry,
} from "./plugins.ts";
export {
  estimateOutputBytes,
  type PreflightFs,
  type PreflightOptions,
  preflightOutput,
} from "./preflight.ts";
export {
  createProgress,
  etaMs,
  formatDuration,
  type Progress,
  type Step,
  startStep,
  withStep,
} from "./progress.ts";
export {
  folderChecksum,
  modelChecksum,
  PROVENANCE_FILE,
  type ProvenanceInput,
} from "./provenance.ts";
export {
  type AllocationSpec,
  type MethodSpec,
  OUTPUT_FORMATS,
  type OutputFormat,
  type PluginSpec,
  parseRecipe,
  parseSeeds,
  parseSparsity,
  RECIPE_DEFAULTS,
  type Recipe,
  validateRecipe,
} from "./recipe.ts";
export type { DistillRecipe, GrpoRecipe, TrainRecipeCommon } from "./recipe-train.ts";
export { escapeTerminal, safeIo } from "./safe-output.ts";
export {
  llama2cTokenizerSideFiles,
  type OutputSideFilesOptions,
  outputSideFiles,
  TRAINING_PROVENANCE_FILE,
} from "./side-files.ts";
export { CONTAINS_WORD, loadVerifier } from "./verifier-plugin.ts";
