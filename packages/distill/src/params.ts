import { createRng, PruneError, throwIfAborted } from "@mama-prune/core";
import {
  LINEAR_NAMES,
  type LinearName,
  type LlamaConfig,
  type LlamaModel,
  type LoadLlamaOptions,
  loadLlama,
  parseLlamaConfig,
} from "@mama-prune/model";
import type { Checkpoint, SafetensorsEntry, TensorInfo } from "@mama-prune/tensor-io";
import { f32ToBytes } from "@mama-prune/tensor-io";

/** Element storage of trainable tensors: float32 for training, float64 for reference gradient checks. */
export type Tensor = Float32Array | Float64Array;

/** Names of the tensors of one decoder block (Hugging Face module names). */
export interface LayerParamNames {
  readonly inputNorm: string;
  readonly postNorm: string;
  readonly q: string;
  readonly k: string;
  readonly v: string;
  readonly o: string;
  readonly gate: string;
  readonly up: string;
  readonly down: string;
  readonly qBias: string | undefined;
  readonly kBias: string | undefined;
  readonly vBias: string | undefined;
  readonly oBias: string | undefined;
}

/**
 * All trainable tensors of a Llama-family decoder, by checkpoint name, plus its config. The
 * tensors are plain typed arrays (the live weights: the trainer updates them in place).
 */
export interface LlamaParams {
  /** Parsed configuration. */
  readonly config: LlamaConfig;
  /** The Hugging Face config object, written back as config.json. */
  readonly hfConfig: Readonly<Record<string, unknown>>;
  /** Tensor by checkpoint name (`model.embed_tokens.weight`, …). `lm_head.weight` only when untied. */
  readonly tensors: Map<string, Tensor>;
}

/**
 * The checkpoint names of layer `l`'s tensors (biases `undefined` when the config has none).
 *
 * @example
 * layerParamNames(cfg, 0).down; // "model.layers.0.mlp.down_proj.weight"
 */
export function layerParamNames(config: LlamaConfig, l: number): LayerParamNames {
  const p = `model.layers.${l}`;
  return {
    inputNorm: `${p}.input_layernorm.weight`,
    postNorm: `${p}.post_attention_layernorm.weight`,
    q: `${p}.self_attn.q_proj.weight`,
    k: `${p}.self_attn.k_proj.weight`,
    v: `${p}.self_attn.v_proj.weight`,
    o: `${p}.self_attn.o_proj.weight`,
    gate: `${p}.mlp.gate_proj.weight`,
    up: `${p}.mlp.up_proj.weight`,
    down: `${p}.mlp.down_proj.weight`,
    qBias: config.attentionBias ? `${p}.self_attn.q_proj.bias` : undefined,
    kBias: config.attentionBias ? `${p}.self_attn.k_proj.bias` : undefined,
    vBias: config.attentionBias ? `${p}.self_attn.v_proj.bias` : undefined,
    oBias: config.oProjBias ? `${p}.self_attn.o_proj.bias` : undefined,
  };
}

/**
 * Every tensor name and shape a Llama-family decoder with this config has, in checkpoint order.
 *
 * @example
 * paramShapes(cfg).get("model.norm.weight"); // [64]
 */
export function paramShapes(config: LlamaConfig): Map<string, readonly number[]> {
  const H = config.hiddenSize;
  const qDim = config.numHeads * config.headDim;
  const kvDim = config.numKvHeads * config.headDim;
  const I = config.intermediateSize;
  const out = new Map<string, readonly number[]>();
  out.set("model.embed_tokens.weight", [config.vocabSize, H]);
  for (let l = 0; l < config.numLayers; l++) {
    const n = layerParamNames(config, l);
    out.set(n.inputNorm, [H]);
    out.set(n.q, [qDim, H]);
    if (n.qBias) out.set(n.qBias, [qDim]);
    out.set(n.k, [kvDim, H]);
    if (n.kBias) out.set(n.kBias, [kvDim]);
    out.set(n.v, [kvDim, H]);
    if (n.vBias) out.set(n.vBias, [kvDim]);
    out.set(n.o, [H, qDim]);
    if (n.oBias) out.set(n.oBias, [H]);
    out.set(n.postNorm, [H]);
    out.set(n.gate, [I, H]);
    out.set(n.up, [I, H]);
    out.set(n.down, [H, I]);
  }
  out.set("model.norm.weight", [H]);
  if (!config.tieWordEmbeddings) out.set("lm_head.weight", [config.vocabSize, H]);
  return out;
}

/**
 * Read every tensor of a Llama-family checkpoint into trainable float32 arrays.
 *
 * @param checkpoint Any tensor-io Checkpoint (HF folder, safetensors, llama2.c).
 * @param options `signal` cancels between tensors (an AbortSignal alone is accepted too);
 *   `closeCheckpoint: true` closes the checkpoint once every tensor is read, and when reading fails,
 *   so that a checkpoint opened for this call leaves no file handle behind.
 * @throws PruneError CONFIG_INVALID / ARCH_UNSUPPORTED (config), TENSOR_IO_NOT_FOUND (a tensor is
 *   missing), SHAPE_MISMATCH (wrong shape), TENSOR_IO_MALFORMED (NaN/Inf), ABORTED — each naming
 *   the checkpoint and tensor.
 * @example
 * const params = await paramsFromCheckpoint(await readLlama2cFile("stories260K.bin"), { closeCheckpoint: true });
 */
export async function paramsFromCheckpoint(
  checkpoint: Checkpoint,
  options?: AbortSignal | ParamsFromCheckpointOptions,
): Promise<LlamaParams> {
  const o: ParamsFromCheckpointOptions =
    options === undefined || isAbortSignal(options) ? { ...(options ? { signal: options } : {}) } : options;
  try {
    return await readParams(checkpoint, o.signal);
  } finally {
    if (o.closeCheckpoint === true) await checkpoint.close();
  }
}

/** Options of {@link paramsFromCheckpoint}. */
export interface ParamsFromCheckpointOptions {
  /** Cancels between tensors (rejects with ABORTED). */
  readonly signal?: AbortSignal;
  /** Close the checkpoint once every tensor is read, and when reading fails. Default false. */
  readonly closeCheckpoint?: boolean;
}

function isAbortSignal(v: unknown): v is AbortSignal {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as AbortSignal).aborted === "boolean" &&
    typeof (v as AbortSignal).addEventListener === "function"
  );
}

async function readParams(checkpoint: Checkpoint, signal: AbortSignal | undefined): Promise<LlamaParams> {
  const config = parseLlamaConfig(checkpoint.config, `${checkpoint.source} config`);
  const tensors = new Map<string, Tensor>();
  for (const [name, shape] of paramShapes(config)) {
    throwIfAborted(signal, `paramsFromCheckpoint(${checkpoint.source})`);
    if (!checkpoint.has(name)) {
      throw new PruneError(
        "TENSOR_IO_NOT_FOUND",
        `${checkpoint.source}: missing tensor "${name}". Expected shape [${shape.join(", ")}], got no such tensor.`,
      );
    }
    const info = checkpoint.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new PruneError(
        "SHAPE_MISMATCH",
        `${checkpoint.source}: tensor "${name}" has the wrong shape. Expected [${shape.join(", ")}], got [${info.shape.join(", ")}].`,
      );
    }
    const data = await checkpoint.readF32(name);
    for (let i = 0; i < data.length; i++) {
      const x = data[i]!;
      if (x - x !== 0) {
        throw new PruneError(
          "TENSOR_IO_MALFORMED",
          `${checkpoint.source}: tensor "${name}" holds a non-finite value at index ${i}. Expected finite weights, got ${x}.`,
        );
      }
    }
    tensors.set(name, data);
  }
  return { config, hfConfig: checkpoint.config, tensors };
}

/** Shape options of {@link initLlamaParams} (Hugging Face config keys). */
export interface InitLlamaParamsOptions {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly vocabSize: number;
  readonly maxPositionEmbeddings?: number;
  readonly tieWordEmbeddings?: boolean;
  /** q/k/v biases (Qwen2 style). */
  readonly attentionBias?: boolean;
  /** Std of the N(0, std²) weight init (default 0.02, GPT-2's); norms start at 1, biases at 0. */
  readonly std?: number;
  /** Mistral sliding window, if any. */
  readonly slidingWindow?: number;
  readonly seed: number;
}

/**
 * A seeded, randomly initialised Llama (or Qwen2 with biases, or Mistral with a sliding window):
 * for tests, benchmarks and training from scratch. Norm weights are drawn around 1 (not exactly 1)
 * so that gradient checks exercise them.
 *
 * @throws PruneError CONFIG_INVALID for impossible shapes (e.g. heads not dividing hidden size);
 *   RangeError when attentionBias and slidingWindow are both set.
 * @example
 * const p = initLlamaParams({ hiddenSize: 16, intermediateSize: 24, numLayers: 1, numHeads: 4,
 *   numKvHeads: 2, vocabSize: 32, seed: 0 });
 */
export function initLlamaParams(options: InitLlamaParamsOptions): LlamaParams {
  if (options.attentionBias && options.slidingWindow !== undefined) {
    throw new RangeError(
      "initLlamaParams: attentionBias (Qwen2) and slidingWindow (Mistral) cannot be combined",
    );
  }
  const family = options.attentionBias ? "qwen2" : options.slidingWindow ? "mistral" : "llama";
  const arch = { llama: "LlamaForCausalLM", qwen2: "Qwen2ForCausalLM", mistral: "MistralForCausalLM" }[
    family
  ];
  const hfConfig: Record<string, unknown> = {
    architectures: [arch],
    model_type: family,
    hidden_size: options.hiddenSize,
    intermediate_size: options.intermediateSize,
    num_hidden_layers: options.numLayers,
    num_attention_heads: options.numHeads,
    num_key_value_heads: options.numKvHeads,
    vocab_size: options.vocabSize,
    max_position_embeddings: options.maxPositionEmbeddings ?? 256,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: options.tieWordEmbeddings ?? false,
    hidden_act: "silu",
    torch_dtype: "float32",
  };
  if (options.slidingWindow !== undefined) hfConfig["sliding_window"] = options.slidingWindow;
  const config = parseLlamaConfig(hfConfig, "initLlamaParams");
  const rng = createRng(options.seed);
  const std = options.std ?? 0.02;
  const tensors = new Map<string, Tensor>();
  for (const [name, shape] of paramShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = new Float32Array(n); // (shape)
    if (name.endsWith("norm.weight")) for (let i = 0; i < n; i++) t[i] = 1 + 0.1 * rng.normal();
    else if (name.endsWith(".bias")) for (let i = 0; i < n; i++) t[i] = 0.1 * rng.normal();
    else for (let i = 0; i < n; i++) t[i] = std * rng.normal();
    tensors.set(name, t);
  }
  return { config, hfConfig, tensors };
}

/**
 * A deep copy, optionally converted to float64 (the reference precision of the gradient checks).
 *
 * @example
 * const ref = cloneParams(params, "f64");
 */
export function cloneParams(params: LlamaParams, precision: "f32" | "f64" = "f32"): LlamaParams {
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of params.tensors) {
    tensors.set(name, precision === "f64" ? Float64Array.from(t) : Float32Array.from(t));
  }
  return { config: params.config, hfConfig: params.hfConfig, tensors };
}

/**
 * One tensor by name.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND naming the tensor.
 * @example
 * getParam(params, "model.norm.weight").length; // hiddenSize
 */
export function getParam(params: LlamaParams, name: string): Tensor {
  const t = params.tensors.get(name);
  if (t === undefined) {
    throw new PruneError(
      "TENSOR_IO_NOT_FOUND",
      `LlamaParams: missing tensor "${name}". Expected it for this config, got no such tensor.`,
    );
  }
  return t;
}

/**
 * The tensors as safetensors entries (float32, checkpoint order) for tensor-io's writers
 * (`writeHfCheckpoint`, `writeHfCheckpointFolder`, `writeSafetensors`).
 *
 * @example
 * await writeHfCheckpointFolder(dir, { config: params.hfConfig, tensors: paramEntries(params) });
 */
export function paramEntries(params: LlamaParams): SafetensorsEntry[] {
  const out: SafetensorsEntry[] = [];
  for (const [name, shape] of paramShapes(params.config)) {
    const t = getParam(params, name);
    out.push({ name, dtype: "F32", shape, data: t instanceof Float32Array ? t : Float32Array.from(t) });
  }
  return out;
}

/**
 * The params seen as a tensor-io Checkpoint (in memory; `readF32` returns copies), e.g. to load
 * them with `@mama-prune/model`'s `loadLlama` for generation and evaluation.
 *
 * @example
 * const model = await loadLlama(paramsCheckpoint(params));
 */
export function paramsCheckpoint(params: LlamaParams, source = "<trained params>"): Checkpoint {
  const shapes = paramShapes(params.config);
  const infos: TensorInfo[] = [...shapes].map(([name, shape]) => ({
    name,
    dtype: "F32",
    shape,
    byteLength: 4 * shape.reduce((a, b) => a * b, 1),
  }));
  const byName = new Map(infos.map((i) => [i.name, i]));
  const info = (name: string): TensorInfo => {
    const i = byName.get(name);
    if (i === undefined) {
      throw new PruneError(
        "TENSOR_IO_NOT_FOUND",
        `${source}: no tensor "${name}". Expected one of ${byName.size} tensors, got "${name}".`,
      );
    }
    return i;
  };
  const f32 = (name: string): Float32Array => {
    info(name);
    return Float32Array.from(getParam(params, name));
  };
  return {
    source,
    format: "safetensors",
    config: params.hfConfig,
    list: () => infos,
    has: (name) => byName.has(name),
    info,
    readRaw: async (name) => f32ToBytes(f32(name), "F32"),
    readF32: async (name) => f32(name),
    close: async () => {},
  };
}

/**
 * Load the params as a `@mama-prune/model` LlamaModel (a snapshot: later training does not change it).
 *
 * @throws whatever `loadLlama` throws for inconsistent params.
 * @example
 * const model = await paramsToModel(params); await model.nll(window);
 */
export function paramsToModel(params: LlamaParams, options: LoadLlamaOptions = {}): Promise<LlamaModel> {
  return loadLlama(paramsCheckpoint(params), options);
}

/**
 * A copy of `params` whose seven block linears (q, k, v, o, gate, up, down) are taken from a
 * `LlamaModel` — typically the model `@mama-prune/pipeline`'s `prune()` returns, whose embeddings,
 * norms and head are never pruned — so the pruned model can be distilled or fine-tuned.
 *
 * @throws PruneError SHAPE_MISMATCH when the model's config differs from the params' in shape.
 * @example
 * const { model } = await prune({ checkpoint, method: "mama", sparsity: 0.5, calibration });
 * const student = withLinearsFrom(dense, model);
 */
export function withLinearsFrom(params: LlamaParams, model: LlamaModel): LlamaParams {
  const a = params.config;
  const b = model.config;
  for (const key of [
    "hiddenSize",
    "intermediateSize",
    "numLayers",
    "numHeads",
    "numKvHeads",
    "headDim",
    "vocabSize",
  ] as const) {
    if (a[key] !== b[key]) {
      throw new PruneError(
        "SHAPE_MISMATCH",
        `withLinearsFrom: the model's ${key} differs from the params'. Expected ${a[key]}, got ${b[key]}.`,
      );
    }
  }
  const out = cloneParams(params);
  for (let l = 0; l < a.numLayers; l++) {
    const n = layerParamNames(a, l);
    const names: Record<LinearName, string> = {
      q_proj: n.q,
      k_proj: n.k,
      v_proj: n.v,
      o_proj: n.o,
      gate_proj: n.gate,
      up_proj: n.up,
      down_proj: n.down,
    };
    for (const name of LINEAR_NAMES) getParam(out, names[name]).set(model.getLinearWeight(l, name));
  }
  return out;
}
