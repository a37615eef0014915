export { isNmPattern, type NmPattern, type Sparsity, validateSparsity } from "@mama-prune/core";
export {
  type AllocateSparsityInput,
  allocateSparsity,
  owlOutlierRatio,
  type SparsityAllocation,
} from "./allocate-sparsity.ts";
export {
  type Granularity,
  SCORER_API_VERSION,
  SCORER_INPUTS,
  type ScoreContext,
  type ScorerInput,
  type ScorerPlugin,
  validateScorerMetadata,
} from "./contract.ts";
export { type GlobalMaskLayer, type GlobalMaskResult, selectGlobalMask } from "./mask/global-mask.ts";
export {
  isNmMask,
  type MaskGroup,
  type NmSparsity,
  type SelectMaskOptions,
  selectMask,
} from "./mask/select-mask.ts";
export { createScorerRegistry, type ScorerRegistry } from "./registry.ts";
export { restrictContext, runScorer } from "./run-scorer.ts";
export { builtinScorers } from "./scorers/builtins.ts";
export { magnitude, negativeMagnitude } from "./scorers/magnitude.ts";
export { type MamaOptions, mama } from "./scorers/mama.ts";
export { type MovementOptions, movement } from "./scorers/movement.ts";
export { type Normalization, normalizeGroup } from "./scorers/normalize.ts";
export { type RiaOptions, ria } from "./scorers/ria.ts";
export { type WandaOptions, wanda } from "./scorers/wanda.ts";
