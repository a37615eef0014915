// The config.json of each model shape `npm run synth` can write, as published on the Hugging Face
// Hub (meta-llama/Llama-3.2-1B, Qwen/Qwen2.5-0.5B, meta-llama/Llama-2-7b-hf), plus the special
// tokens a minimal tokenizer needs.

/** Shape names accepted by `--shape`. */
export type ShapeName = "llama-3.2-1b" | "qwen2.5-0.5b" | "llama-2-7b";

/** One synthesizable model shape. */
export interface Shape {
  /** config.json as published (torch_dtype and num_hidden_layers are rewritten per run). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Special tokens of the model's own tokenizer: content and id (the config's bos/eos ids). */
  readonly bos: { readonly content: string; readonly id: number };
  readonly eos: { readonly content: string; readonly id: number };
}

export const SHAPES: Readonly<Record<ShapeName, Shape>> = {
  "llama-3.2-1b": {
    config: {
      architectures: ["LlamaForCausalLM"],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 128000,
      eos_token_id: 128001,
      head_dim: 64,
      hidden_act: "silu",
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 8192,
      max_position_embeddings: 131072,
      mlp_bias: false,
      model_type: "llama",
      num_attention_heads: 32,
      num_hidden_layers: 16,
      num_key_value_heads: 8,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: {
        factor: 32.0,
        high_freq_factor: 4.0,
        low_freq_factor: 1.0,
        original_max_position_embeddings: 8192,
        rope_type: "llama3",
      },
      rope_theta: 500000.0,
      tie_word_embeddings: true,
      torch_dtype: "bfloat16",
      transformers_version: "4.45.0.dev0",
      use_cache: true,
      vocab_size: 128256,
    },
    bos: { content: "<|begin_of_text|>", id: 128000 },
    eos: { content: "<|end_of_text|>", id: 128001 },
  },
  "qwen2.5-0.5b": {
    config: {
      architectures: ["Qwen2ForCausalLM"],
      attention_dropout: 0.0,
      bos_token_id: 151643,
      eos_token_id: 151643,
      hidden_act: "silu",
      hidden_size: 896,
      initializer_range: 0.02,
      intermediate_size: 4864,
      max_position_embeddings: 32768,
      max_window_layers: 24,
      model_type: "qwen2",
      num_attention_heads: 14,
      num_hidden_layers: 24,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      tie_word_embeddings: true,
      torch_dtype: "bfloat16",
      transformers_version: "4.40.1",
      use_cache: true,
      use_mrope: false,
      use_sliding_window: false,
      vocab_size: 151936,
    },
    bos: { content: "<|endoftext|>", id: 151643 },
    eos: { content: "<|endoftext|>", id: 151643 },
  },
  "llama-2-7b": {
    config: {
      architectures: ["LlamaForCausalLM"],
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_act: "silu",
      hidden_size: 4096,
      initializer_range: 0.02,
      intermediate_size: 11008,
      max_position_embeddings: 4096,
      model_type: "llama",
      num_attention_heads: 32,
      num_hidden_layers: 32,
      num_key_value_heads: 32,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      rope_theta: 10000.0,
      tie_word_embeddings: false,
      torch_dtype: "float16",
      transformers_version: "4.31.0.dev0",
      use_cache: true,
      vocab_size: 32000,
    },
    bos: { content: "<s>", id: 1 },
    eos: { content: "</s>", id: 2 },
  },
};

/** A tensor to synthesize: HF name, shape, and how to fill it. */
export interface TensorPlan {
  readonly name: string;
  readonly shape: readonly number[];
  /** "normal": N(0, std²) seeded per tensor; "ones": RMSNorm weights. */
  readonly fill: "normal" | "ones";
}

/** Standard deviation of every random tensor (transformers' `initializer_range` of these models). */
export const WEIGHT_STD = 0.02;

/**
 * The tensors of a Llama-family checkpoint with config `c`, in the order transformers' state_dict
 * lists them (embedding, block by block, final norm, lm_head when untied).
 */
export function tensorPlan(c: Readonly<Record<string, unknown>>): TensorPlan[] {
  const num = (k: string): number => c[k] as number;
  const H = num("hidden_size");
  const I = num("intermediate_size");
  const nh = num("num_attention_heads");
  const nkv = num("num_key_value_heads");
  const hd = (c["head_dim"] as number | undefined) ?? H / nh;
  const V = num("vocab_size");
  const qkvBias = c["model_type"] === "qwen2" || c["attention_bias"] === true;
  const oBias = c["model_type"] !== "qwen2" && c["attention_bias"] === true;
  const out: TensorPlan[] = [{ name: "model.embed_tokens.weight", shape: [V, H], fill: "normal" }];
  for (let l = 0; l < num("num_hidden_layers"); l++) {
    const p = `model.layers.${l}`;
    const lin = (name: string, shape: number[]): void => {
      out.push({ name: `${p}.${name}`, shape, fill: "normal" });
    };
    lin("self_attn.q_proj.weight", [nh * hd, H]);
    if (qkvBias) lin("self_attn.q_proj.bias", [nh * hd]);
    lin("self_attn.k_proj.weight", [nkv * hd, H]);
    if (qkvBias) lin("self_attn.k_proj.bias", [nkv * hd]);
    lin("self_attn.v_proj.weight", [nkv * hd, H]);
    if (qkvBias) lin("self_attn.v_proj.bias", [nkv * hd]);
    lin("self_attn.o_proj.weight", [H, nh * hd]);
    if (oBias) lin("self_attn.o_proj.bias", [H]);
    lin("mlp.gate_proj.weight", [I, H]);
    lin("mlp.up_proj.weight", [I, H]);
    lin("mlp.down_proj.weight", [H, I]);
    out.push({ name: `${p}.input_layernorm.weight`, shape: [H], fill: "ones" });
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [H], fill: "ones" });
  }
  out.push({ name: "model.norm.weight", shape: [H], fill: "ones" });
  if (c["tie_word_embeddings"] !== true) out.push({ name: "lm_head.weight", shape: [V, H], fill: "normal" });
  return out;
}
