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
import { toByteSource } from "./byte-source.ts";
import { type ByteSink, collectSink } from "./sink.ts";
import type { ByteSource, Checkpoint, TensorInfo } from "./types.ts";

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
const MAX_DIM = 1 << 24;

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

interface Region {
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
function layoutRegions(h: Llama2cHeader): Region[] {
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
function f32FromLe(bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength >>> 2;
  if (LITTLE_ENDIAN_HOST) return new Float32Array(bytes.slice().buffer, 0, n);
  const out = new Float32Array(n); // (n,)
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

/** Float32Array → little-endian bytes (copy). */
function f32ToLe(values: Float32Array): Uint8Array {
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

// ---- Reader ----

/**
 * Open a llama2.c (legacy version-0) checkpoint as a lazy {@link Checkpoint} with Hugging Face
 * Llama tensor names (all F32). Only the header is read up front; each tensor is read when asked.
 * `self_attn.q_proj.weight` and `self_attn.k_proj.weight` rows are permuted per head from
 * llama2.c's interleaved RoPE order to HF's rotate-half order (also in `readRaw`), so an HF-style
 * forward pass reproduces run.c. `lm_head.weight` exists only when the classifier is unshared
 * (`config.tie_word_embeddings` is false); the legacy freq_cis tables are skipped.
 *
 * @param input The .bin file as a ByteSource, bytes or Blob.
 * @param name Name for messages when `input` is bytes or a Blob.
 * @throws PruneError TENSOR_IO_MALFORMED for a bad header or a file size that does not match the
 *   layout; TENSOR_IO_UNSUPPORTED for newer export versions; TENSOR_IO_NOT_FOUND for unknown tensors.
 * @example
 * const ckpt = await readLlama2c(bytes, "stories260K.bin");
 * ckpt.info("model.layers.0.self_attn.k_proj.weight").shape; // [32, 64]
 */
export async function readLlama2c(input: ByteSource | Uint8Array | Blob, name?: string): Promise<Checkpoint> {
  const src = toByteSource(input, name);
  const file = src.name;
  if (src.size < LLAMA2C_HEADER_BYTES) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${file}: too small for a llama2.c checkpoint. Expected at least ${LLAMA2C_HEADER_BYTES} bytes, got ${src.size}.`,
    );
  }
  const header = llama2cHeader(await src.read(0, LLAMA2C_HEADER_BYTES), file);
  const expected = llama2cExpectedBytes(header);
  if (src.size !== expected) {
    const other = llama2cExpectedBytes({ ...header, sharedClassifier: !header.sharedClassifier });
    const hint =
      src.size === other
        ? ` (that is the size for a${header.sharedClassifier ? "n unshared" : " shared"} classifier, but the sign of vocab_size says ${header.sharedClassifier ? "shared" : "unshared"})`
        : "";
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${file}: file size does not match the llama2.c layout of its header (dim=${header.dim}, hidden_dim=${header.hiddenDim}, n_layers=${header.nLayers}, n_heads=${header.nHeads}, n_kv_heads=${header.nKvHeads}, vocab_size=${header.sharedClassifier ? "" : "-"}${header.vocabSize}, seq_len=${header.seqLen}). Expected ${expected} bytes, got ${src.size}${hint}.`,
    );
  }
  const regions = layoutRegions(header);
  const byName = new Map(regions.map((r) => [r.name, r]));
  const infos: TensorInfo[] = regions.map((r) => ({
    name: r.name,
    dtype: "F32",
    shape: r.shape,
    byteLength: 4 * r.shape.reduce((a, b) => a * b, 1),
  }));
  const infoByName = new Map(infos.map((t) => [t.name, t]));
  let closed = false;

  const region = (tensor: string): Region => {
    const r = byName.get(tensor);
    if (r === undefined) {
      throw new PruneError(
        "TENSOR_IO_NOT_FOUND",
        `${file}: no tensor named "${tensor}" in this llama2.c checkpoint${tensor === "lm_head.weight" ? " (the classifier is shared: use model.embed_tokens.weight)" : ""}.`,
      );
    }
    return r;
  };
  const readRaw = async (tensor: string): Promise<Uint8Array> => {
    const r = region(tensor);
    if (closed) throw new PruneError("TENSOR_IO_MALFORMED", `${file}: read of "${tensor}" after close.`);
    const byteLength = infoByName.get(tensor)!.byteLength;
    const bytes = await src.read(r.offset, byteLength);
    if (r.permuteHeads !== undefined) return permuteRopeRows(bytes, r.permuteHeads, 4 * r.shape[1]!);
    return bytes.slice();
  };

  return {
    source: file,
    format: "llama2c",
    config: llama2cConfig(header),
    list: (): readonly TensorInfo[] => infos,
    has: (tensor: string): boolean => byName.has(tensor),
    info: (tensor: string): TensorInfo => {
      region(tensor);
      return infoByName.get(tensor)!;
    },
    readRaw,
    readF32: async (tensor: string): Promise<Float32Array> => f32FromLe(await readRaw(tensor)),
    close: async (): Promise<void> => {
      if (closed) return;
      closed = true;
      await src.close?.();
    },
  };
}

// ---- Writer ----

/** What {@link writeLlama2c} needs: a Llama config and float32 tensors under HF names. */
export interface Llama2cWriteInput {
  readonly config: Readonly<Record<string, unknown>>;
  has(name: string): boolean;
  readF32(name: string): Promise<Float32Array>;
}

/** Options of {@link writeLlama2c}. */
export interface Llama2cWriteOptions {
  /** Rows of the legacy freq_cis tables and the header's seq_len. Default: `max_position_embeddings`. */
  readonly seqLen?: number;
}

function configInt(config: Readonly<Record<string, unknown>>, key: string, fallback?: number): number {
  const v = config[key] ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0 || v > MAX_DIM) {
    throw new PruneError(
      "CONFIG_INVALID",
      `writeLlama2c: config.${key} is invalid. Expected a positive integer, got ${JSON.stringify(v)}.`,
    );
  }
  return v;
}

/**
 * The llama2.c header for a Hugging Face Llama config, refusing configs that run.c cannot
 * represent (other rms_norm_eps, rope_theta, activation, head_dim, biases or RoPE scaling).
 *
 * @throws PruneError CONFIG_INVALID for missing/invalid sizes; TENSOR_IO_UNSUPPORTED for features
 *   llama2.c lacks.
 * @example
 * llama2cHeaderFromConfig(ckpt.config).nKvHeads; // 4
 */
export function llama2cHeaderFromConfig(
  config: Readonly<Record<string, unknown>>,
  seqLen?: number,
): Llama2cHeader {
  const dim = configInt(config, "hidden_size");
  const nHeads = configInt(config, "num_attention_heads");
  const unsupported = (what: string, expected: string, got: unknown): PruneError =>
    new PruneError(
      "TENSOR_IO_UNSUPPORTED",
      `writeLlama2c: config.${what} cannot be represented in a llama2.c file. Expected ${expected}, got ${JSON.stringify(got)}.`,
    );
  const eps = config["rms_norm_eps"] ?? 1e-6;
  if (typeof eps !== "number" || Math.abs(eps - 1e-5) > 1e-12) throw unsupported("rms_norm_eps", "1e-5", eps);
  const theta = config["rope_theta"] ?? 10000;
  if (theta !== 10000) throw unsupported("rope_theta", "10000", theta);
  const act = config["hidden_act"] ?? "silu";
  if (act !== "silu") throw unsupported("hidden_act", '"silu"', act);
  const rs = config["rope_scaling"];
  if (rs !== undefined && rs !== null) throw unsupported("rope_scaling", "null", rs);
  for (const b of ["attention_bias", "mlp_bias"]) {
    if (config[b] === true) throw unsupported(b, "false", true);
  }
  const hd = config["head_dim"];
  if (hd !== undefined && hd !== null && hd !== dim / nHeads)
    throw unsupported("head_dim", `${dim / nHeads}`, hd);
  const h: Llama2cHeader = {
    dim,
    hiddenDim: configInt(config, "intermediate_size"),
    nLayers: configInt(config, "num_hidden_layers"),
    nHeads,
    nKvHeads: configInt(config, "num_key_value_heads", nHeads),
    vocabSize: configInt(config, "vocab_size"),
    seqLen: seqLen ?? configInt(config, "max_position_embeddings"),
    // HF LlamaConfig defaults tie_word_embeddings to false.
    sharedClassifier: config["tie_word_embeddings"] === true,
  };
  // Re-validate the combination through the header parser's rules.
  const bytes = new Uint8Array(LLAMA2C_HEADER_BYTES);
  const dv = new DataView(bytes.buffer);
  const vals = [h.dim, h.hiddenDim, h.nLayers, h.nHeads, h.nKvHeads, h.vocabSize, h.seqLen];
  for (const [i, v] of vals.entries()) dv.setInt32(4 * i, v, true);
  try {
    llama2cHeader(bytes, "writeLlama2c: config");
  } catch (e) {
    throw new PruneError("CONFIG_INVALID", (e as Error).message, { cause: e });
  }
  return h;
}

/**
 * Stream a Llama checkpoint (HF names, HF rotate-half q/k order) into a ByteSink as a llama2.c
 * legacy .bin, one tensor at a time: the inverse of {@link readLlama2c}. q/k rows are permuted back
 * to interleaved order; the freq_cis tables are recomputed in float32 as llama2.c's model.py does
 * (`cos/sin(t · theta^(-2i/head_size))`). Closes the sink on success, aborts it on any failure.
 *
 * @returns Bytes written.
 * @throws PruneError CONFIG_INVALID / TENSOR_IO_UNSUPPORTED (see {@link llama2cHeaderFromConfig}),
 *   TENSOR_IO_NOT_FOUND for a missing tensor, SHAPE_MISMATCH for a tensor of the wrong size,
 *   TENSOR_IO_WRITE_FAILED from the sink.
 * @example
 * await writeLlama2cToSink(await createAtomicFileSink("out.bin"), ckpt); // sink from /node
 */
export async function writeLlama2cToSink(
  sink: ByteSink,
  input: Llama2cWriteInput,
  options: Llama2cWriteOptions = {},
): Promise<number> {
  try {
    const h = llama2cHeaderFromConfig(input.config, options.seqLen);
    const head = new Uint8Array(LLAMA2C_HEADER_BYTES); // (7 int32,)
    const dv = new DataView(head.buffer);
    const vals = [
      h.dim,
      h.hiddenDim,
      h.nLayers,
      h.nHeads,
      h.nKvHeads,
      h.sharedClassifier ? h.vocabSize : -h.vocabSize,
      h.seqLen,
    ];
    for (const [i, v] of vals.entries()) dv.setInt32(4 * i, v, true);
    await sink.write(head);
    let written = head.byteLength;
    for (const r of layoutRegions(h)) {
      if (!input.has(r.name)) {
        throw new PruneError(
          "TENSOR_IO_NOT_FOUND",
          `writeLlama2c: tensor "${r.name}" is missing from the input.`,
        );
      }
      const values = await input.readF32(r.name);
      const n = r.shape.reduce((a, b) => a * b, 1);
      if (values.length !== n) {
        throw new PruneError(
          "SHAPE_MISMATCH",
          `writeLlama2c: tensor "${r.name}" has the wrong size. Expected ${n} values (shape [${r.shape.join(", ")}]), got ${values.length}.`,
        );
      }
      let bytes = f32ToLe(values);
      if (r.permuteHeads !== undefined) bytes = permuteRopeRows(bytes, r.permuteHeads, 4 * r.shape[1]!, true);
      await sink.write(bytes);
      written += bytes.byteLength;
      if (r.name === "model.norm.weight") {
        // The legacy freq_cis tables follow model.norm.weight.
        const freq = freqCisBytes(h);
        await sink.write(freq);
        written += freq.byteLength;
      }
    }
    if (written !== llama2cExpectedBytes(h)) {
      throw new PruneError(
        "TENSOR_IO_WRITE_FAILED",
        `writeLlama2c: layout mismatch. Expected ${llama2cExpectedBytes(h)} bytes, got ${written}.`,
      );
    }
    await sink.close();
    return written;
  } catch (e) {
    await sink.abort(e).catch(() => undefined);
    throw e;
  }
}

/** freq_cis_real then freq_cis_imag, each (seq_len, head_size/2) float32, as llama2.c's model.py computes them. */
function freqCisBytes(h: Llama2cHeader): Uint8Array {
  const headSize = h.dim / h.nHeads;
  const half = headSize / 2;
  const freqs = new Float32Array(half); // (half,)
  for (let i = 0; i < half; i++) freqs[i] = 1 / 10000 ** Math.fround((2 * i) / headSize);
  const table = new Float32Array(2 * h.seqLen * half); // (2, seq_len, half): cos then sin
  const sinAt = h.seqLen * half;
  for (let t = 0; t < h.seqLen; t++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(t * freqs[i]!);
      table[t * half + i] = Math.cos(a);
      table[sinAt + t * half + i] = Math.sin(a);
    }
  }
  return f32ToLe(table);
}

/**
 * Serialise a Llama checkpoint to llama2.c legacy .bin bytes in memory (see
 * {@link writeLlama2cToSink}; llama2.c models are small enough to hold whole).
 *
 * @throws Same as {@link writeLlama2cToSink}.
 * @example
 * const bin = await writeLlama2c(await readLlama2c(bytes)); // byte-identical weights
 */
export async function writeLlama2c(
  input: Llama2cWriteInput,
  options: Llama2cWriteOptions = {},
): Promise<Uint8Array> {
  const sink = collectSink();
  await writeLlama2cToSink(sink, input, options);
  return sink.bytes();
}
