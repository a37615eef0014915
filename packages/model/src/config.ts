import { PruneError, truncateForMessage } from "@mama-prune/core";
import { parseRopeScaling, type RopeScaling } from "./rope-scaling.ts";

/** Model families understood by {@link parseLlamaConfig} (Hugging Face `model_type`). */
export type LlamaFamily = "llama" | "mistral" | "qwen2";

/**
 * Shapes and hyper-parameters of a Llama-family decoder, parsed from a Hugging Face `config.json`
 * (or the config a llama2.c reader synthesises from its header).
 */
export interface LlamaConfig {
  /** `model_type`: "llama", "mistral" or "qwen2". */
  readonly family: LlamaFamily;
  /** Hidden (residual stream) width. */
  readonly hiddenSize: number;
  /** MLP width (gate/up output, down input). */
  readonly intermediateSize: number;
  /** Number of decoder blocks. */
  readonly numLayers: number;
  /** Number of query heads. */
  readonly numHeads: number;
  /** Number of key/value heads (grouped-query attention when smaller than numHeads). */
  readonly numKvHeads: number;
  /** Per-head width (config `head_dim`, else hiddenSize / numHeads). */
  readonly headDim: number;
  /** Vocabulary size (rows of embed_tokens and lm_head). */
  readonly vocabSize: number;
  /** RMSNorm epsilon. */
  readonly rmsNormEps: number;
  /** RoPE base θ. */
  readonly ropeTheta: number;
  /**
   * `rope_scaling` (Llama 3.x `llama3`, `linear`, `dynamic`); absent for plain RoPE. The model's
   * rotary tables use `ropeInverseFrequencies(config)` (rope-scaling.ts).
   */
  readonly ropeScaling?: RopeScaling;
  /** True when lm_head shares the embedding matrix. */
  readonly tieWordEmbeddings: boolean;
  /** True when q_proj, k_proj and v_proj carry biases (Qwen2; Llama with `attention_bias`). */
  readonly attentionBias: boolean;
  /** True when o_proj carries a bias (Llama with `attention_bias: true`; never Qwen2). */
  readonly oProjBias: boolean;
  /**
   * Longest sequence the model runs: `max_position_embeddings` (for `dynamic` RoPE scaling, capped
   * at the length up to which dynamic RoPE equals plain RoPE, see {@link RopeScaling}).
   */
  readonly maxPositionEmbeddings: number;
  /** Mistral sliding-window attention width (a query attends to the last `slidingWindow` keys), if any. */
  readonly slidingWindow: number | undefined;
}

const ARCHITECTURES: Readonly<Record<string, LlamaFamily>> = {
  LlamaForCausalLM: "llama",
  MistralForCausalLM: "mistral",
  Qwen2ForCausalLM: "qwen2",
};

// Hugging Face's own defaults (transformers' LlamaConfig / MistralConfig / Qwen2Config) for keys
// that are not shapes. Shapes are never defaulted: a missing shape key is an error.
const HF_DEFAULTS: Readonly<
  Record<LlamaFamily, { rmsNormEps: number; ropeTheta: number; maxPos: number; tie: boolean }>
> = {
  llama: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 2048, tie: false },
  mistral: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 4096 * 32, tie: false },
  qwen2: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 32768, tie: false },
};

function invalid(source: string, key: string, expected: string, got: unknown): PruneError {
  return new PruneError(
    "CONFIG_INVALID",
    `${source}: invalid "${key}". Expected ${expected}, got ${truncateForMessage(got)}.`,
  );
}

function positiveInt(cfg: Readonly<Record<string, unknown>>, key: string, source: string): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    throw new PruneError(
      "CONFIG_INVALID",
      `${source}: missing required key "${key}". Expected a positive integer, got nothing.`,
    );
  }
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0 || v > 2 ** 31 - 1) {
    throw invalid(source, key, "a positive integer", v);
  }
  return v;
}

function optionalPositiveInt(
  cfg: Readonly<Record<string, unknown>>,
  key: string,
  source: string,
): number | undefined {
  const v = cfg[key];
  if (v === undefined || v === null) return undefined;
  return positiveInt(cfg, key, source);
}

function positiveNumber(
  cfg: Readonly<Record<string, unknown>>,
  key: string,
  source: string,
  fallback: number,
): number {
  const v = cfg[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0)
    throw invalid(source, key, "a positive number", v);
  return v;
}

function bool(
  cfg: Readonly<Record<string, unknown>>,
  key: string,
  source: string,
  fallback: boolean,
): boolean {
  const v = cfg[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") throw invalid(source, key, "a boolean", v);
  return v;
}

function detectFamily(cfg: Readonly<Record<string, unknown>>, source: string): LlamaFamily {
  const archs = cfg["architectures"];
  const modelType = cfg["model_type"];
  let fromArch: LlamaFamily | undefined;
  if (archs !== undefined && archs !== null) {
    if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== "string") {
      throw invalid(source, "architectures", "a non-empty array of strings", archs);
    }
    const name = archs[0] as string;
    fromArch = ARCHITECTURES[name];
    if (fromArch === undefined) {
      throw new PruneError(
        "ARCH_UNSUPPORTED",
        `${source}: unsupported architecture "${truncateForMessage(name)}". Expected one of ${Object.keys(ARCHITECTURES).join(", ")}, got "${truncateForMessage(name)}".`,
      );
    }
  }
  if (modelType !== undefined && modelType !== null) {
    if (typeof modelType !== "string") throw invalid(source, "model_type", "a string", modelType);
    if (modelType !== "llama" && modelType !== "mistral" && modelType !== "qwen2") {
      throw new PruneError(
        "ARCH_UNSUPPORTED",
        `${source}: unsupported model_type "${truncateForMessage(modelType)}". Expected llama, mistral or qwen2, got "${truncateForMessage(modelType)}".`,
      );
    }
    if (fromArch !== undefined && fromArch !== modelType) {
      throw invalid(source, "model_type", `"${fromArch}" (from architectures)`, modelType);
    }
    return modelType;
  }
  if (fromArch !== undefined) return fromArch;
  throw new PruneError(
    "CONFIG_INVALID",
    `${source}: missing required key "model_type" (and no "architectures"). Expected llama, mistral or qwen2, got nothing.`,
  );
}

/**
 * Parse and validate a Hugging Face `config.json` of a Llama-family causal LM (LlamaForCausalLM,
 * MistralForCausalLM, Qwen2ForCausalLM). Shape keys (`hidden_size`, `intermediate_size`,
 * `num_hidden_layers`, `num_attention_heads`, `vocab_size`) are required; scalar keys fall back to
 * Hugging Face's own class defaults (eps 1e-6, θ 10000, untied embeddings). `num_key_value_heads`
 * defaults to `num_attention_heads` only for Llama, whose HF default is exactly that.
 *
 * @param config The parsed `config.json` object.
 * @param source Where it came from (file path), used in error messages.
 * `rope_scaling` may be absent/null/`default`, `linear`, `dynamic` or `llama3` (see
 * {@link parseRopeScaling}).
 *
 * @throws PruneError ARCH_UNSUPPORTED for another architecture, another `rope_scaling` type (named),
 *   a non-SiLU activation, `mlp_bias`, or Qwen2 sliding-window layers; CONFIG_INVALID for a missing
 *   or invalid key (named).
 * @example
 * const cfg = parseLlamaConfig({ model_type: "llama", hidden_size: 64, intermediate_size: 172,
 *   num_hidden_layers: 5, num_attention_heads: 8, num_key_value_heads: 4, vocab_size: 512 });
 * cfg.headDim; // 8
 */
export function parseLlamaConfig(
  config: Readonly<Record<string, unknown>>,
  source = "config.json",
): LlamaConfig {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new TypeError(`parseLlamaConfig: config must be an object, got ${truncateForMessage(config)}`);
  }
  const family = detectFamily(config, source);
  const defaults = HF_DEFAULTS[family];

  const act = config["hidden_act"];
  if (act !== undefined && act !== null && act !== "silu") {
    throw new PruneError(
      "ARCH_UNSUPPORTED",
      `${source}: "hidden_act" ${truncateForMessage(act)} is not supported. Expected "silu", got ${truncateForMessage(act)}.`,
    );
  }
  if (bool(config, "mlp_bias", source, false)) {
    throw new PruneError(
      "ARCH_UNSUPPORTED",
      `${source}: "mlp_bias" true is not supported. Expected false or absent, got true.`,
    );
  }

  const hiddenSize = positiveInt(config, "hidden_size", source);
  const intermediateSize = positiveInt(config, "intermediate_size", source);
  const numLayers = positiveInt(config, "num_hidden_layers", source);
  const numHeads = positiveInt(config, "num_attention_heads", source);
  const vocabSize = positiveInt(config, "vocab_size", source);

  let numKvHeads = optionalPositiveInt(config, "num_key_value_heads", source);
  if (numKvHeads === undefined) {
    if (family !== "llama") {
      throw new PruneError(
        "CONFIG_INVALID",
        `${source}: missing required key "num_key_value_heads" (${family} has no numHeads default). Expected a positive integer, got nothing.`,
      );
    }
    numKvHeads = numHeads;
  }
  if (numHeads % numKvHeads !== 0) {
    throw invalid(
      source,
      "num_key_value_heads",
      `a divisor of num_attention_heads (${numHeads})`,
      numKvHeads,
    );
  }

  let headDim = optionalPositiveInt(config, "head_dim", source);
  if (headDim === undefined) {
    if (hiddenSize % numHeads !== 0) {
      throw invalid(
        source,
        "num_attention_heads",
        `a divisor of hidden_size (${hiddenSize}) when "head_dim" is absent`,
        numHeads,
      );
    }
    headDim = hiddenSize / numHeads;
  }
  if (headDim % 2 !== 0) throw invalid(source, "head_dim", "an even number (RoPE rotates halves)", headDim);

  const rmsNormEps = positiveNumber(config, "rms_norm_eps", source, defaults.rmsNormEps);
  const ropeTheta = positiveNumber(config, "rope_theta", source, defaults.ropeTheta);
  const tieWordEmbeddings = bool(config, "tie_word_embeddings", source, defaults.tie);
  const maxPos = optionalPositiveInt(config, "max_position_embeddings", source) ?? defaults.maxPos;
  const ropeScaling = parseRopeScaling(config["rope_scaling"], source, maxPos);
  const maxPositionEmbeddings =
    ropeScaling?.type === "dynamic" ? ropeScaling.originalMaxPositionEmbeddings : maxPos;

  let attentionBias: boolean;
  let oProjBias: boolean;
  if (family === "qwen2") {
    attentionBias = true;
    oProjBias = false;
  } else {
    attentionBias = bool(config, "attention_bias", source, false);
    oProjBias = attentionBias;
  }

  let slidingWindow: number | undefined;
  if (family === "mistral") {
    slidingWindow = optionalPositiveInt(config, "sliding_window", source);
  } else if (family === "qwen2" && bool(config, "use_sliding_window", source, false)) {
    throw new PruneError(
      "ARCH_UNSUPPORTED",
      `${source}: Qwen2 "use_sliding_window" true is not supported. Expected false or absent, got true.`,
    );
  }

  return {
    family,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize,
    rmsNormEps,
    ropeTheta,
    ...(ropeScaling !== undefined ? { ropeScaling } : {}),
    tieWordEmbeddings,
    attentionBias,
    oProjBias,
    maxPositionEmbeddings,
    slidingWindow,
  };
}
