// `npm run synth`: write a seeded random-weight Hugging Face folder with the exact config.json of a
// real model shape. Tensors are generated and written in chunks (a few MiB resident whatever the
// tensor size), into a staging folder renamed into place at the end.

import { statfs } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { PruneError } from "@mama-prune/core";
import {
  configJsonBytes,
  type DType,
  dtypeByteSize,
  f32ToBytesInto,
  HF_INDEX_FILE,
  HF_SINGLE_FILE,
  safetensorsLayout,
} from "@mama-prune/tensor-io";
import { createCheckpointDirWriter } from "@mama-prune/tensor-io/node";
import { SHAPES, type Shape, type ShapeName, type TensorPlan, tensorPlan, WEIGHT_STD } from "./shapes.ts";

/** Options of {@link synthesize}. */
export interface SynthOptions {
  readonly shape: ShapeName;
  /** Output folder (must not exist or be empty). */
  readonly out: string;
  /** Decoder blocks to keep (default: the model's full depth). */
  readonly layers?: number;
  /** Stored dtype (default BF16). */
  readonly dtype?: "BF16" | "F16" | "F32";
  /** Number of safetensors shards (default 1: a single model.safetensors, no index). */
  readonly shards?: number;
  /** Base seed (default 0). Each tensor's stream is seeded from it and the tensor's name. */
  readonly seed?: number;
  /** Development/test override of vocab_size (not the real shape); special token ids are kept below it. */
  readonly vocab?: number;
  /**
   * Development/test override of the block's widths (not the real shape): a narrower model with the
   * shape's other settings (rope, norms, tying, biases), e.g. for a smoke run of a benchmark on a slow
   * device. Each field replaces the config.json number of the same name.
   */
  readonly width?: SynthWidth;
  /** Values generated per chunk (default 2^20). */
  readonly chunkValues?: number;
}

/** {@link SynthOptions.width}: config.json numbers that set the block's widths. */
export interface SynthWidth {
  readonly hidden_size?: number;
  readonly intermediate_size?: number;
  readonly num_attention_heads?: number;
  readonly num_key_value_heads?: number;
  readonly head_dim?: number;
}

const WIDTH_KEYS: readonly (keyof SynthWidth)[] = [
  "hidden_size",
  "intermediate_size",
  "num_attention_heads",
  "num_key_value_heads",
  "head_dim",
];

/** What {@link synthesize} wrote. */
export interface SynthResult {
  readonly files: readonly string[];
  /** Bytes of tensor data (the index's metadata.total_size). */
  readonly totalSizeBytes: number;
  readonly numTensors: number;
  readonly config: Readonly<Record<string, unknown>>;
}

export const SHAPE_NAMES: readonly ShapeName[] = Object.keys(SHAPES) as ShapeName[];

const TORCH_DTYPE: Readonly<Record<"BF16" | "F16" | "F32", string>> = {
  BF16: "bfloat16",
  F16: "float16",
  F32: "float32",
};

function fnv1a(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Fill `out` with N(0, std²) samples: mulberry32 uniforms through Box–Muller, continuing `state`
 * (a one-element Uint32Array) so consecutive chunks form one stream.
 */
function fillNormal(out: Float32Array, state: Uint32Array, std: number): void {
  let a = state[0]!;
  const u32 = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const n = out.length;
  for (let i = 0; i < n; i += 2) {
    const u = (u32() + 1) / 4294967297; // (0, 1): log never sees 0
    const v = u32() / 4294967296;
    const r = std * Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  state[0] = a;
}

/** The config.json written for these options: the published one with depth, dtype (and vocab) applied. */
export function synthConfig(o: SynthOptions): Record<string, unknown> {
  const shape: Shape | undefined = SHAPES[o.shape];
  if (shape === undefined) {
    throw new PruneError(
      "CONFIG_INVALID",
      `--shape: unknown shape "${o.shape}". Expected one of ${SHAPE_NAMES.join(", ")}, got "${o.shape}".`,
    );
  }
  const full = shape.config["num_hidden_layers"] as number;
  const layers = o.layers ?? full;
  if (!Number.isInteger(layers) || layers < 1 || layers > full) {
    throw new PruneError(
      "CONFIG_INVALID",
      `--layers: expected an integer in [1, ${full}] for ${o.shape}, got ${layers}.`,
    );
  }
  const dtype = o.dtype ?? "BF16";
  const config: Record<string, unknown> = {
    ...shape.config,
    num_hidden_layers: layers,
    torch_dtype: TORCH_DTYPE[dtype],
  };
  if (o.vocab !== undefined) {
    if (!Number.isInteger(o.vocab) || o.vocab < 260) {
      throw new PruneError("CONFIG_INVALID", `--vocab: expected an integer ≥ 260, got ${o.vocab}.`);
    }
    config["vocab_size"] = o.vocab;
    const { bos, eos } = specialTokens(shape, o.vocab);
    config["bos_token_id"] = bos.id;
    config["eos_token_id"] = eos.id;
  }
  if (o.width !== undefined) applyWidth(config, o.width);
  return config;
}

/** The model's special tokens, moved to the top of a reduced vocabulary when their ids do not fit. */
function applyWidth(config: Record<string, unknown>, width: SynthWidth): void {
  for (const [k, v] of Object.entries(width)) {
    if (!(WIDTH_KEYS as readonly string[]).includes(k)) {
      throw new PruneError(
        "CONFIG_INVALID",
        `width: unknown field "${k}". Expected some of ${WIDTH_KEYS.join(", ")}, got "${k}".`,
      );
    }
    if (!Number.isInteger(v) || (v as number) < 1) {
      throw new PruneError("CONFIG_INVALID", `width.${k}: expected a positive integer, got ${String(v)}.`);
    }
    config[k] = v;
  }
  const nh = config["num_attention_heads"] as number;
  const nkv = config["num_key_value_heads"] as number;
  const hidden = config["hidden_size"] as number;
  const hd = (config["head_dim"] as number | undefined) ?? hidden / nh;
  if (nh % nkv !== 0 || !Number.isInteger(hd)) {
    throw new PruneError(
      "CONFIG_INVALID",
      `width: expected num_attention_heads a multiple of num_key_value_heads and an integer head_dim, got ${nh} / ${nkv} heads, head_dim ${hd}.`,
    );
  }
}

function specialTokens(shape: Shape, vocab: number): Pick<Shape, "bos" | "eos"> {
  if (shape.bos.id < vocab && shape.eos.id < vocab) return shape;
  const same = shape.bos.content === shape.eos.content;
  return {
    bos: { content: shape.bos.content, id: same ? vocab - 1 : vocab - 2 },
    eos: { content: shape.eos.content, id: vocab - 1 },
  };
}

/**
 * A minimal byte-level tokenizer.json (+ tokenizer_config.json) whose ids fit the model: one token per
 * byte (GPT-2's byte-to-unicode alphabet, no merges), placed clear of the special ids, plus the
 * model's BOS/EOS at the config's ids. Text → ids is all that perplexity/calibration need from it;
 * it is not the model's real tokenizer (the weights are random anyway).
 */
export function minimalTokenizer(
  config: Readonly<Record<string, unknown>>,
  shape: ShapeName,
): SideFileBytes[] {
  const vocab = config["vocab_size"] as number;
  const { bos, eos } = specialTokens(SHAPES[shape], vocab);
  const special = new Set([bos.id, eos.id]);
  let offset = 0;
  while ([...special].some((id) => id >= offset && id < offset + 256)) offset++;
  // GPT-2 bytes_to_unicode: printable bytes map to themselves, the rest to 256 + k.
  const chars: string[] = [];
  let k = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    chars.push(String.fromCodePoint(printable ? b : 256 + k++));
  }
  const vocabMap: Record<string, number> = {};
  chars.forEach((c, b) => {
    vocabMap[c] = offset + b;
  });
  const added = (t: { content: string; id: number }): Record<string, unknown> => ({
    id: t.id,
    content: t.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: bos.id === eos.id ? [added(bos)] : [added(bos), added(eos)],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab: vocabMap,
      merges: [],
    },
  };
  const tokenizerConfig = {
    bos_token: bos.content,
    eos_token: eos.content,
    model_max_length: config["max_position_embeddings"],
    tokenizer_class: "PreTrainedTokenizerFast",
    comment: "Minimal byte-level tokenizer written by `npm run synth` (not the model's real tokenizer).",
  };
  return [
    { file: "tokenizer.json", data: configJsonBytes(tokenizer) },
    { file: "tokenizer_config.json", data: configJsonBytes(tokenizerConfig) },
  ];
}

interface SideFileBytes {
  readonly file: string;
  readonly data: Uint8Array;
}

function tensorBytes(t: TensorPlan, dtype: DType): number {
  return t.shape.reduce((a, b) => a * b, 1) * dtypeByteSize(dtype);
}

/** Next-fit shard assignment (transformers' order-preserving split) for a shard capacity in bytes. */
function packShards(sizes: readonly number[], cap: number): number[][] {
  const shards: number[][] = [];
  let cur: number[] = [];
  let bytes = 0;
  sizes.forEach((s, i) => {
    if (cur.length > 0 && bytes + s > cap) {
      shards.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(i);
    bytes += s;
  });
  if (cur.length > 0) shards.push(cur);
  return shards;
}

/** Exactly `k` shards: the smallest capacity whose next-fit packing needs at most k shards. */
export function shardAssignment(sizes: readonly number[], k: number): number[][] {
  if (!Number.isInteger(k) || k < 1 || k > sizes.length) {
    throw new PruneError(
      "CONFIG_INVALID",
      `--shards: expected an integer in [1, ${sizes.length}] (one tensor per shard at most), got ${k}.`,
    );
  }
  let lo = Math.max(...sizes);
  let hi = sizes.reduce((a, b) => a + b, 0);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (packShards(sizes, mid).length <= k) hi = mid;
    else lo = mid + 1;
  }
  const shards = packShards(sizes, lo);
  if (shards.length !== k) {
    throw new PruneError(
      "CONFIG_INVALID",
      `--shards: these tensors cannot be split into exactly ${k} order-preserving shards. Expected a count reachable by size, got ${k} (nearest: ${shards.length}).`,
    );
  }
  return shards;
}

/**
 * Write the folder. Memory: one chunk of `chunkValues` float32 values plus its encoded bytes
 * (default 4 MiB + ≤ 4 MiB), whatever the tensor sizes.
 *
 * @throws PruneError CONFIG_INVALID (options), TENSOR_IO_EXISTS (non-empty `out`),
 *   TENSOR_IO_WRITE_FAILED (not enough free disk space, write errors).
 */
export async function synthesize(o: SynthOptions): Promise<SynthResult> {
  const config = synthConfig(o);
  const dtype = o.dtype ?? "BF16";
  const seed = o.seed ?? 0;
  const chunkValues = o.chunkValues ?? 1 << 20;
  const plan = tensorPlan(config);
  const sizes = plan.map((t) => tensorBytes(t, dtype));
  const shards = shardAssignment(sizes, o.shards ?? 1);
  const total = sizes.reduce((a, b) => a + b, 0);
  const side = minimalTokenizer(config, o.shape);

  const dir = await createCheckpointDirWriter(o.out); // refuses a non-empty folder (TENSOR_IO_EXISTS)
  const files: string[] = [];
  try {
    const fs = await statfs(dirname(resolve(o.out)));
    const free = fs.bavail * fs.bsize;
    if (free < total + (64 << 20)) {
      throw new PruneError(
        "TENSOR_IO_WRITE_FAILED",
        `${o.out}: not enough free disk space. Expected at least ${(total / 2 ** 30).toFixed(2)} GiB + 64 MiB, got ${(free / 2 ** 30).toFixed(2)} GiB.`,
      );
    }
    const values = new Float32Array(chunkValues); // (chunkValues,) reused for every chunk
    const bytes = new Uint8Array(chunkValues * dtypeByteSize(dtype)); // (chunkValues · size,)
    const state = new Uint32Array(1);
    const n = shards.length;
    const fileOf = (i: number): string =>
      n === 1
        ? HF_SINGLE_FILE
        : `model-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`;
    const weightMap: [string, string][] = [];
    for (let s = 0; s < n; s++) {
      const entries = shards[s]!.map((i) => ({ name: plan[i]!.name, dtype, shape: plan[i]!.shape }));
      const layout = safetensorsLayout(entries, { format: "pt" });
      const sink = await dir.create(fileOf(s));
      await sink.write(layout.header);
      for (const i of shards[s]!) {
        const t = plan[i]!;
        weightMap.push([t.name, fileOf(s)]);
        const numel = t.shape.reduce((a, b) => a * b, 1);
        state[0] = fnv1a(t.name, seed);
        for (let at = 0; at < numel; at += chunkValues) {
          const m = Math.min(chunkValues, numel - at);
          const v = values.subarray(0, m);
          if (t.fill === "ones") v.fill(1);
          else fillNormal(v, state, WEIGHT_STD);
          // The sink has consumed the bytes once write resolves: the scratch can be reused.
          await sink.write(f32ToBytesInto(v, dtype, bytes.subarray(0, m * dtypeByteSize(dtype))));
        }
      }
      await sink.close();
      files.push(fileOf(s));
    }
    if (n > 1) {
      weightMap.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      const index = { metadata: { total_size: total }, weight_map: Object.fromEntries(weightMap) };
      const sink = await dir.create(HF_INDEX_FILE);
      await sink.write(configJsonBytes(index));
      await sink.close();
      files.push(HF_INDEX_FILE);
    }
    for (const f of [...side, { file: "config.json", data: configJsonBytes(config) }]) {
      const sink = await dir.create(f.file);
      await sink.write(f.data);
      await sink.close();
      files.push(f.file);
    }
    await dir.commit();
  } catch (e) {
    await dir.abort(e).catch(() => undefined);
    throw e;
  }
  return { files, totalSizeBytes: total, numTensors: plan.length, config };
}
