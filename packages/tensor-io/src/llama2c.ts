// llama2.c checkpoints: the lazy reader (HF names, q/k rows permuted to rotate-half RoPE) and the
// streaming writer. The file layout, header parsing, the RoPE row permutation and the synthesised
// config live in llama2c-format.ts.

import { PruneError } from "@mama-prune/core";
import { checkTensorRange, toByteSource } from "./byte-source.ts";
import {
  f32FromLe,
  f32ToLe,
  LLAMA2C_HEADER_BYTES,
  type Llama2cHeader,
  layoutRegions,
  llama2cConfig,
  llama2cExpectedBytes,
  llama2cHeader,
  MAX_DIM,
  permuteRopeRows,
  type Region,
} from "./llama2c-format.ts";
import { type ByteSink, collectSink } from "./sink.ts";
import type { ByteSource, Checkpoint, TensorInfo } from "./types.ts";

export {
  LLAMA2C_HEADER_BYTES,
  type Llama2cHeader,
  llama2cConfig,
  llama2cExpectedBytes,
  llama2cHeader,
  permuteRopeRows,
} from "./llama2c-format.ts";

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
    async readRawRange(tensor: string, offset: number, length: number): Promise<Uint8Array> {
      const r = region(tensor);
      checkTensorRange(`${file}: "${tensor}"`, offset, length, infoByName.get(tensor)!.byteLength);
      // q/k rows are reordered on read: those are read whole and cut (they are never read in parts).
      if (r.permuteHeads !== undefined) return (await readRaw(tensor)).slice(offset, offset + length);
      if (closed) throw new PruneError("TENSOR_IO_MALFORMED", `${file}: read of "${tensor}" after close.`);
      return (await src.read(r.offset + offset, length)).slice();
    },
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
