// Reading a Llama-family decoder's tensors from a checkpoint into float32 arrays, with checks.
import { PruneError, throwIfAborted } from "@mama-prune/core";
import type { Checkpoint } from "@mama-prune/tensor-io";
import type { DecoderBlockWeights } from "./block.ts";
import type { LlamaConfig } from "./config.ts";
import { LINEAR_NAMES, type LinearName, linearParamName, linearShapeOf } from "./linears.ts";

/** One block's float32 weights as the model holds them (the linears are the live arrays). */
export interface LayerWeights extends DecoderBlockWeights {
  readonly inputNorm: Float32Array; // (hidden,)
  readonly postNorm: Float32Array; // (hidden,)
  readonly linears: Record<LinearName, Float32Array>; // each (out, in)
  readonly qBias: Float32Array | undefined; // (heads·headDim,)
  readonly kBias: Float32Array | undefined; // (kvHeads·headDim,)
  readonly vBias: Float32Array | undefined; // (kvHeads·headDim,)
  readonly oBias: Float32Array | undefined; // (hidden,)
}

/** Every weight of a decoder. */
export interface LlamaWeights {
  readonly embedding: Float32Array; // (vocab, hidden)
  readonly layers: LayerWeights[];
  readonly finalNorm: Float32Array; // (hidden,)
  readonly lmHead: Float32Array; // (vocab, hidden), === embedding when tied
}

async function readTensor(
  ckpt: Checkpoint,
  name: string,
  shape: readonly number[],
  signal: AbortSignal | undefined,
): Promise<Float32Array> {
  throwIfAborted(signal, `loadLlama(${ckpt.source})`);
  if (!ckpt.has(name)) {
    throw new PruneError(
      "TENSOR_IO_NOT_FOUND",
      `${ckpt.source}: missing tensor "${name}". Expected shape [${shape.join(", ")}], got no such tensor.`,
    );
  }
  const info = ckpt.info(name);
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${ckpt.source}: tensor "${name}" has the wrong shape. Expected [${shape.join(", ")}], got [${info.shape.join(", ")}].`,
    );
  }
  const data = await ckpt.readF32(name);
  const expected = shape.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${ckpt.source}: tensor "${name}" read ${data.length} values. Expected ${expected}, got ${data.length}.`,
    );
  }
  // A NaN/Inf weight would silently poison every logit: refuse it at load time (one cheap pass).
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (x - x !== 0) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${ckpt.source}: tensor "${name}" holds a non-finite value at index ${i}. Expected finite weights, got ${x}.`,
      );
    }
  }
  return data;
}

/**
 * Read every tensor (Hugging Face names) of a decoder with config `cfg`, in checkpoint order; each
 * must exist with the expected shape and finite values.
 */
export async function readLlamaWeights(
  checkpoint: Checkpoint,
  cfg: LlamaConfig,
  signal: AbortSignal | undefined,
): Promise<LlamaWeights> {
  const H = cfg.hiddenSize;
  const qDim = cfg.numHeads * cfg.headDim;
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const embedding = await readTensor(checkpoint, "model.embed_tokens.weight", [cfg.vocabSize, H], signal);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    const linears = {} as Record<LinearName, Float32Array>;
    for (const name of LINEAR_NAMES) {
      linears[name] = await readTensor(
        checkpoint,
        linearParamName(l, name),
        linearShapeOf(cfg, name),
        signal,
      );
    }
    const bias = async (name: string, n: number): Promise<Float32Array> =>
      readTensor(checkpoint, `${p}.self_attn.${name}.bias`, [n], signal);
    layers.push({
      inputNorm: await readTensor(checkpoint, `${p}.input_layernorm.weight`, [H], signal),
      postNorm: await readTensor(checkpoint, `${p}.post_attention_layernorm.weight`, [H], signal),
      linears,
      qBias: cfg.attentionBias ? await bias("q_proj", qDim) : undefined,
      kBias: cfg.attentionBias ? await bias("k_proj", kvDim) : undefined,
      vBias: cfg.attentionBias ? await bias("v_proj", kvDim) : undefined,
      oBias: cfg.oProjBias ? await bias("o_proj", H) : undefined,
    });
  }
  const finalNorm = await readTensor(checkpoint, "model.norm.weight", [H], signal);
  const lmHead = cfg.tieWordEmbeddings
    ? embedding
    : await readTensor(checkpoint, "lm_head.weight", [cfg.vocabSize, H], signal);
  return { embedding, layers, finalNorm, lmHead };
}
