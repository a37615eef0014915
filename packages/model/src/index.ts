export {
  type AttentionHeads,
  causalAttention,
  causalAttentionWindows,
} from "./attention.ts";
export {
  ATTENTION_MODES,
  type AttentionFn,
  type AttentionMode,
  causalAttentionBackend,
  causalAttentionWindowsBackend,
  checkAttentionMode,
  windowAttention,
} from "./attention-backend.ts";
export {
  type BlockActivations,
  type BlockHooks,
  type DecoderBlockOptions,
  type DecoderBlockResult,
  type DecoderBlockWeights,
  decoderBlock,
  type LinearFn,
} from "./block.ts";
export { type LlamaConfig, type LlamaFamily, parseLlamaConfig } from "./config.ts";
export { createCpuBackend } from "./cpu-backend.ts";
export { type GenerateOptions, type GenerateResult, generate } from "./generate.ts";
export { loadHfTokenizer } from "./hf-tokenizer.ts";
export { embedRows, type FloatArray, rmsNorm, swiglu, zerosOf } from "./layers.ts";
export { LINEAR_NAMES, type LinearName } from "./linears.ts";
export {
  type LlamaModel,
  type LlamaSequence,
  type LoadLlamaOptions,
  loadLlama,
} from "./llama.ts";
export {
  parseRopeScaling,
  ROPE_TYPES,
  type RopeParameters,
  type RopeScaling,
  ropeInverseFrequencies,
} from "./rope-scaling.ts";
export { applyRope, buildRope, type RopeTable } from "./rotary.ts";
export {
  createLlama2cTokenizer,
  type EncodeOptions,
  type Llama2cTokenizerData,
  type Tokenizer,
} from "./tokenizer.ts";
export {
  type AddedTokenJson,
  llama2cTokenizerConfig,
  llama2cTokenizerJson,
  type TokenizerJson,
} from "./tokenizer-json.ts";
