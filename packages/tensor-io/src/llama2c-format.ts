// llama2.c checkpoints (Karpathy's run.c "legacy" / version-0 format) exposed as a Hugging Face
// Llama checkpoint: HF tensor names, a synthesised LlamaConfig, and q/k rows permuted so that HF's
// rotate-half RoPE on the exposed tensors computes exactly what run.c's interleaved RoPE computes.
//
// File layout (all little-endian):
//   7 × int32 header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//     (vocab_size < 0 means the classifier is stored separately at the end: "unshared")
//   float32: token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kv_dim, dim],
//            wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim],
//            w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim],
//            freq_cis_real [seq_len, head_size/2], freq_cis_imag [seq_len, head_size/2],
//            wcls [vocab, dim] (only when unshared)
//
// RoPE: run.c rotates the interleaved pairs (x[2i], x[2i+1]) of each head with frequency
// theta^(-2i/head_size); HF Llama rotates the halves (x[i], x[i + head_size/2]) with the same
// frequency. Permuting the output rows of wq and wk inside each head — HF row (h, half, i) takes
// llama2.c row (h, 2i + half), exactly `permute` in HF's convert_llama_weights_to_hf.py — makes
// q·k identical under both conventions (v, o and everything else are untouched).

import { PruneError } from "@mama-prune/core";

// ---- Header ----

/** The seven header fields of a llama2.c checkpoint, plus what they imply. */
export interface Llama2cHeader {
  /** Model width (`hidden_size`). */
  readonly dim: number;
  /** Feed-forward width (`intermediate_size`). */
  readonly hiddenDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  /** Vocabulary size (absolute value of the stored field). */
  readonly vocabSize: number;
  /** Maximum sequence length (rows of the stored freq_cis tables). */
  readonly seqLen: number;
  /** True when the stored vocab_size is positive: lm_head is the embedding matrix. */
  readonly sharedClassifier: boolean;
}

/** Size of the llama2.c header in bytes (7 × int32). */
export const LLAMA2C_HEADER_BYTES = 28;

/** Bound on any header dimension: guards against hostile headers before any arithmetic. */
export const MAX_DIM: number = 1 << 24;

/** The version-1/2 llama2.c export magic "ak42"; those files are not the legacy format. */
const LLAMA2C_MAGIC = 0x616b3432;

/**
 * Parse and validate the 28-byte llama2.c header (does not check the file size; see
 * {@link llama2cExpectedBytes}).
 *
 * @param bytes At least the first 28 bytes of the file.
 * @param name File name for error messages.
 * @throws PruneError TENSOR_IO_MALFORMED when the header is short, a dimension is not positive or
 *   out of range, `dim % n_heads != 0`, `n_heads % n_kv_heads != 0` or the head size is odd;
 *   TENSOR_IO_UNSUPPORTED for the newer "ak42" export versions.
 * @example
 * const h = llama2cHeader(bytes.subarray(0, 28), "stories260K.bin");
 * h.dim; // 64
 */
export function llama2cHeader(bytes: Uint8Array, name = "<memory>"): Llama2cHeader {
  if (bytes.byteLength < LLAMA2C_HEADER_BYTES) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${name}: llama2.c header is truncated. Expected at least ${LLAMA2C_HEADER_BYTES} bytes, got ${bytes.byteLength}.`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, LLAMA2C_HEADER_BYTES);
  const f = (i: number): number => dv.getInt32(i * 4, true);
  if (f(0) === LLAMA2C_MAGIC) {
    throw new PruneError(
      "TENSOR_IO_UNSUPPORTED",
      `${name}: llama2.c export version ${f(1)} ("ak42" magic) is not supported. Expected the legacy (version 0) format, got the versioned export.`,
    );
  }
  const fields = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"] as const;
  const raw = fields.map((_, i) => f(i));
  for (let i = 0; i < fields.length; i++) {
    const v = i === 5 ? Math.abs(raw[i]!) : raw[i]!;
    if (!(v > 0 && v <= MAX_DIM)) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${name}: llama2.c header field ${fields[i]} is out of range. Expected an integer in [1, ${MAX_DIM}]${i === 5 ? " (sign marks an unshared classifier)" : ""}, got ${raw[i]}.`,
      );
    }
  }
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = raw as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (dim % nHeads !== 0) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${name}: llama2.c header dim is not a multiple of n_heads. Expected dim % n_heads == 0, got dim=${dim}, n_heads=${nHeads}.`,
    );
  }
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${name}: llama2.c header n_heads is not a multiple of n_kv_heads. Expected n_heads % n_kv_heads == 0, got n_heads=${nHeads}, n_kv_heads=${nKvHeads}.`,
    );
  }
  if ((dim / nHeads) % 2 !== 0) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${name}: llama2.c head size is odd, so RoPE pairs are undefined. Expected an even dim / n_heads, got ${dim / nHeads}.`,
    );
  }
  return {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize: Math.abs(vocabRaw),
    seqLen,
    sharedClassifier: vocabRaw > 0,
  };
}

/**
 * Exact file size of a llama2.c checkpoint with this header (header + all float32 tensors,
 * including the legacy freq_cis tables and, when unshared, the classifier).
 *
 * @example
 * llama2cExpectedBytes(h); // 1056540 for stories260K
 */
export function llama2cExpectedBytes(h: Llama2cHeader): number {
  return LLAMA2C_HEADER_BYTES + 4 * layoutFloats(h, h.sharedClassifier).total;
}

// ---- Layout ----

/** One tensor of the file layout (internal, shared with the reader). */
export interface Region {
  readonly name: string;
  /** Byte offset in the file. */
  readonly offset: number;
  readonly shape: readonly number[];
  /** For q/k: number of heads whose rows are permuted (interleaved → halves). */
  readonly permuteHeads?: number;
}

function layoutFloats(h: Llama2cHeader, shared: boolean): { total: number } {
  const headSize = h.dim / h.nHeads;
  const kvDim = headSize * h.nKvHeads;
  const L = h.nLayers;
  const total =
    h.vocabSize * h.dim +
    L * h.dim * 2 + // rms_att, rms_ffn
    L * h.dim * h.dim * 2 + // wq, wo
    L * kvDim * h.dim * 2 + // wk, wv
    L * h.hiddenDim * h.dim * 3 + // w1, w2, w3
    h.dim + // rms_final
    h.seqLen * headSize + // freq_cis_real + freq_cis_imag, each seq_len × head_size/2
    (shared ? 0 : h.vocabSize * h.dim);
  return { total };
}

/** HF names for the llama2.c tensors, in file order. */
export function layoutRegions(h: Llama2cHeader): Region[] {
  const headSize = h.dim / h.nHeads;
  const kvDim = headSize * h.nKvHeads;
  const L = h.nLayers;
  const out: Region[] = [];
  let off = LLAMA2C_HEADER_BYTES;
  const add = (name: string, shape: number[], permuteHeads?: number): void => {
    out.push(
      permuteHeads === undefined ? { name, offset: off, shape } : { name, offset: off, shape, permuteHeads },
    );
    off += 4 * shape.reduce((a, b) => a * b, 1);
  };
  const perLayer = (suffix: string, shape: number[], permuteHeads?: number): void => {
    for (let i = 0; i < L; i++) add(`model.layers.${i}.${suffix}`, shape, permuteHeads);
  };
  add("model.embed_tokens.weight", [h.vocabSize, h.dim]);
  perLayer("input_layernorm.weight", [h.dim]);
  perLayer("self_attn.q_proj.weight", [h.dim, h.dim], h.nHeads);
  perLayer("self_attn.k_proj.weight", [kvDim, h.dim], h.nKvHeads);
  perLayer("self_attn.v_proj.weight", [kvDim, h.dim]);
  perLayer("self_attn.o_proj.weight", [h.dim, h.dim]);
  perLayer("post_attention_layernorm.weight", [h.dim]);
  perLayer("mlp.gate_proj.weight", [h.hiddenDim, h.dim]); // w1
  perLayer("mlp.down_proj.weight", [h.dim, h.hiddenDim]); // w2
  perLayer("mlp.up_proj.weight", [h.hiddenDim, h.dim]); // w3
  add("model.norm.weight", [h.dim]);
  off += 4 * h.seqLen * headSize; // legacy freq_cis_real / freq_cis_imag: recomputed by every runtime
  if (!h.sharedClassifier) add("lm_head.weight", [h.vocabSize, h.dim]);
  return out;
}

// ---- Row permutation (the RoPE convention change) ----

/**
 * Map llama2.c's interleaved-RoPE row order to HF's rotate-half row order inside each head:
 * HF row (h, half, i) = llama2.c row (h, 2i + half). Rows are `rowBytes` wide (works on bytes of
 * any dtype). `inverse` maps HF order back to llama2.c order.
 *
 * @param rows The (rows, rowBytes) matrix as raw bytes; rows = nHeads × headSize.
 * @throws RangeError when the size is not nHeads × even head size × rowBytes.
 * @example
 * // one head of size 4, one byte per row: llama2.c rows [a0,a1,b0,b1] → HF rows [a0,b0,a1,b1]
 * permuteRopeRows(new Uint8Array([0, 1, 2, 3]), 1, 1); // Uint8Array [0, 2, 1, 3]
 */
export function permuteRopeRows(
  rows: Uint8Array,
  nHeads: number,
  rowBytes: number,
  inverse = false,
): Uint8Array {
  const nRows = rows.byteLength / rowBytes;
  const headSize = nRows / nHeads;
  if (!Number.isInteger(nRows) || !Number.isInteger(headSize) || headSize % 2 !== 0) {
    throw new RangeError(
      `permuteRopeRows: ${rows.byteLength} bytes is not nHeads=${nHeads} × even head size × rowBytes=${rowBytes}`,
    );
  }
  const half = headSize / 2;
  const out = new Uint8Array(rows.byteLength); // (nRows, rowBytes)
  for (let h = 0; h < nHeads; h++) {
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < half; i++) {
        const hfRow = h * headSize + s * half + i;
        const l2cRow = h * headSize + 2 * i + s;
        const [from, to] = inverse ? [hfRow, l2cRow] : [l2cRow, hfRow];
        out.set(rows.subarray(from * rowBytes, (from + 1) * rowBytes), to * rowBytes);
      }
    }
  }
  return out;
}

// ---- Float32 helpers ----

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Little-endian float32 bytes → a fresh Float32Array (copy; works on unaligned input). */
export function f32FromLe(bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength >>> 2;
  if (LITTLE_ENDIAN_HOST) return new Float32Array(bytes.slice().buffer, 0, n);
  const out = new Float32Array(n); // (n,)
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

/** Float32Array → little-endian bytes (copy). */
export function f32ToLe(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(values.slice().buffer);
  const out = new Uint8Array(values.length * 4); // (n * 4,)
  const dv = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) dv.setFloat32(4 * i, values[i]!, true);
  return out;
}

// ---- Config ----

/**
 * The Hugging Face `LlamaConfig` object equivalent to a llama2.c header (run.c uses
 * rms_norm_eps 1e-5, rope_theta 10000 and SiLU).
 *
 * @example
 * llama2cConfig(h).num_key_value_heads; // 4
 */
export function llama2cConfig(h: Llama2cHeader): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: h.dim,
    intermediate_size: h.hiddenDim,
    num_hidden_layers: h.nLayers,
    num_attention_heads: h.nHeads,
    num_key_value_heads: h.nKvHeads,
    vocab_size: h.vocabSize,
    max_position_embeddings: h.seqLen,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: h.sharedClassifier,
    hidden_act: "silu",
    torch_dtype: "float32",
  };
}
