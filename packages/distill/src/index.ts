export { type BatchSampler, createBatchSampler } from "./data.ts";
export {
  type Grads,
  type Tape,
  type TrainForwardOptions,
  type TrainForwardResult,
  trainBackward,
  trainForward,
  zeroGrads,
} from "./engine.ts";
export { type GrpoOptions, type GrpoProgress, type GrpoReport, grpo } from "./grpo.ts";
export {
  crossEntropyLoss,
  type DistillLossOptions,
  type DistillLossResult,
  distillLoss,
  type GrpoLossOptions,
  type GrpoLossResult,
  grpoLoss,
  type LossResult,
  tokenLogProbs,
} from "./losses.ts";
export { applyMasks, masksFromZeros, type ParamMasks, sparsityOf } from "./masks.ts";
export {
  type AttentionShape,
  applyRopeRows,
  attentionBackward,
  attentionForward,
  backendLinalg,
  biasGrad,
  buildRopeTables,
  float64Linalg,
  type Linalg,
  type RopeTables,
  rmsNormBackward,
  rmsNormForward,
  swigluBackward,
  swigluForward,
  transposeF32,
  zerosLike,
} from "./ops.ts";
export {
  type AdamW,
  type AdamWOptions,
  clipGradNorm,
  createAdamW,
  type LrSchedule,
  learningRateAt,
} from "./optim.ts";
export {
  cloneParams,
  getParam,
  type InitLlamaParamsOptions,
  initLlamaParams,
  type LayerParamNames,
  type LlamaParams,
  layerParamNames,
  type ParamsFromCheckpointOptions,
  paramEntries,
  paramShapes,
  paramsCheckpoint,
  paramsFromCheckpoint,
  paramsToModel,
  type Tensor,
  withLinearsFrom,
} from "./params.ts";
export {
  type RewardCalibration,
  type RewardCalibrationOptions,
  rewardWeightedCalibration,
} from "./reward-calibration.ts";
export {
  type DistillOptions,
  distill,
  sft,
  type TrainCommonOptions,
  type TrainProgress,
  type TrainReport,
} from "./train.ts";
export { checkVerifier, containsWordVerifier, groupAdvantages, type VerifierPlugin } from "./verifier.ts";
