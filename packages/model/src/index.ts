export { type LlamaConfig, type LlamaFamily, parseLlamaConfig } from "./config.ts";
export { createCpuBackend } from "./cpu-backend.ts";
export { type GenerateOptions, type GenerateResult, generate } from "./generate.ts";
export { loadHfTokenizer } from "./hf-tokenizer.ts";
export {
  type BlockHooks,
  LINEAR_NAMES,
  type LinearName,
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
