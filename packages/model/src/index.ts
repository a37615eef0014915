export { type LlamaConfig, type LlamaFamily, parseLlamaConfig } from "./config.ts";
export { createCpuBackend } from "./cpu-backend.ts";
export {
  type BlockHooks,
  LINEAR_NAMES,
  type LinearName,
  type LlamaModel,
  type LlamaSequence,
  type LoadLlamaOptions,
  loadLlama,
} from "./llama.ts";
