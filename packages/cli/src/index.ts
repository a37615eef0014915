/** Display names of the built-in methods; defined in @mama-prune/pipeline, re-exported for compatibility. */
export { METHOD_LABELS } from "@mama-prune/pipeline";
export {
  type CommandContext,
  type EvalJob,
  formatInspect,
  formatPrune,
  type InspectResult,
  type PruneCommandResult,
  type PruneJob,
  type RunSweepOptions,
  runEval,
  runInspect,
  runPrune,
  runSweep,
  type SweepCommandResult,
  type SweepRun,
} from "./commands.ts";
export { EXIT_CODES, errorLine, exitCodeOf, UsageError } from "./exit-codes.ts";
export {
  findTokenizer,
  type LoadedTokenizer,
  loadTokenizer,
  openModel,
  readText,
  tokenizerFor,
} from "./inputs.ts";
export type { CliIo } from "./io.ts";
export { CLI_VERSION, HELP, main } from "./main.ts";
export {
  type LoadedPlugin,
  loadPlugin,
  loadPluginModule,
  loadPlugins,
  type PluginRegistries,
  pluginRegistry,
} from "./plugins.ts";
export { createProgress, type Progress } from "./progress.ts";
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
