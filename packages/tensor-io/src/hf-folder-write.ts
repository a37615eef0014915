// Hugging Face checkpoint folders, writing: safetensors shards (dense or compressed-tensors sparse),
// the index, side files and config.json, committed atomically through a WritableCheckpointDir.

import { PruneError, quoteUntrusted } from "@mama-prune/core";
import {
  type CheckpointDir,
  checkFileName,
  HF_INDEX_FILE,
  HF_SINGLE_FILE,
  readSmallFile,
  SAFE_FILE,
  type WritableCheckpointDir,
} from "./checkpoint-dir.ts";
import { configJsonBytes } from "./config.ts";
import { dtypeByteSize, f32ToBytes } from "./dtype.ts";
import { type SafetensorsEntry, writeSafetensors } from "./safetensors.ts";
import { compressWeight, type SparseFormat, sparsityConfig } from "./sparse.ts";
import type { TensorReader } from "./types.ts";

// ---- Writing ----

/** Options of {@link writeHfCheckpoint}. */
export interface WriteHfCheckpointOptions {
  /** The Hugging Face config object written as config.json (sparsity_config added/removed per `format`). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Tensors in the order to store them; give `data` as a function to stream one tensor at a time. */
  readonly tensors: Iterable<SafetensorsEntry> | AsyncIterable<SafetensorsEntry>;
  /** Largest shard in bytes of tensor data (a bigger single tensor gets a shard of its own). Default 2 GiB. */
  readonly maxShardSizeBytes?: number;
  /**
   * Explicit sharding (e.g. the source checkpoint's, to write a copy sharded like it): the 0-based
   * shard of each tensor; shard i holds the tensors mapped to i in the given order, and shards are
   * written 0, 1, …, so data() is called in that order. Every shard 0..max must get a tensor.
   * Replaces `maxShardSizeBytes`. One shard → `model.safetensors` without an index.
   */
  readonly shardOf?: (name: string) => number;
  /** Storage of the targeted weights. Default "dense". */
  readonly format?: SparseFormat;
  /**
   * Which tensors a sparse format compresses. Default: the 7 linear weights of each decoder block
   * (`model.layers.N.{self_attn,mlp}.*_proj.weight`, 2-D).
   */
  readonly isTarget?: (name: string, shape: readonly number[]) => boolean;
  /** Checked between tensors; an abort discards everything written. */
  readonly signal?: AbortSignal;
  /**
   * Other files to write alongside (tokenizer.json, generation_config.json, …), e.g. from
   * {@link sideFiles}. Names must not be config.json, weights or the index.
   */
  readonly extraFiles?: readonly SideFile[];
}

/** A non-weight file of a checkpoint folder, with lazily read contents. */
export interface SideFile {
  readonly file: string;
  readonly data: Uint8Array | (() => Promise<Uint8Array>);
}

const WEIGHT_FILE = /^model(-\d{5}-of-\d{5})?\.safetensors$/;

/**
 * The files of a checkpoint folder that are neither weights (`*.safetensors`, `*.bin`, `*.pt`,
 * `*.pth`, `*.gguf`), nor the index, nor config.json — tokenizer and generation files to carry over
 * to a pruned copy with `writeHfCheckpoint({ extraFiles })`. Contents are read when written.
 *
 * @example
 * const extra = await sideFiles(srcDir); extra.map((f) => f.file); // ["tokenizer.json", ...]
 */
export async function sideFiles(dir: CheckpointDir): Promise<SideFile[]> {
  const skip = /\.(safetensors|bin|pt|pth|gguf|ckpt|h5|msgpack)$/;
  return (await dir.list())
    .filter(
      (f) =>
        f !== "config.json" &&
        f !== HF_INDEX_FILE &&
        !skip.test(f) &&
        !f.endsWith(".index.json") &&
        SAFE_FILE.test(f),
    )
    .sort()
    .map((file) => ({ file, data: () => readSmallFile(dir, file) }));
}

/** What {@link writeHfCheckpoint} wrote. */
export interface WriteHfCheckpointResult {
  /** Files written, in order (shards, the index if any, extra files, then config.json). */
  readonly files: readonly string[];
  /** Total bytes of stored tensor data (the index's `metadata.total_size`). */
  readonly totalSizeBytes: number;
  /** Fraction of zeros over the targeted weights (sparse formats only). */
  readonly globalSparsity?: number;
}

const BLOCK_LINEAR = /^model\.layers\.\d+\.(self_attn|mlp)\.[a-z_]+_proj\.weight$/;

/**
 * The default sparse target: a 2-D `model.layers.N.{self_attn,mlp}.*_proj.weight`.
 *
 * @example
 * isBlockLinear("model.layers.3.mlp.down_proj.weight", [64, 172]); // true
 */
export function isBlockLinear(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && BLOCK_LINEAR.test(name);
}

function padShard(i: number): string {
  return String(i).padStart(5, "0");
}

/** Upper bound of the stored bytes of one tensor in `format` (exact for dense and 2:4). */
function storedBytesBound(e: SafetensorsEntry, target: boolean, format: SparseFormat): number {
  const numel = e.shape.reduce((a, b) => a * b, 1);
  const dense = numel * dtypeByteSize(e.dtype);
  if (!target || format === "dense") return dense;
  const [rows, cols] = e.shape as [number, number];
  const mask = rows * Math.ceil(cols / 8);
  if (format === "sparse-24-bitmask") return 16 + dense / 2 + mask;
  return 16 + dense + mask + 8 * rows;
}

async function entryBytes(e: SafetensorsEntry): Promise<Uint8Array> {
  const data = typeof e.data === "function" ? await e.data() : e.data;
  if (data instanceof Uint8Array) return data;
  return e.dtype === "F32"
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : f32ToBytes(data, e.dtype, e.name);
}

function withSparsity(
  config: Readonly<Record<string, unknown>>,
  format: SparseFormat,
  globalSparsity: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  const q = config["quantization_config"];
  const qc: Record<string, unknown> =
    typeof q === "object" && q !== null && !Array.isArray(q) ? { ...(q as object) } : {};
  if (format === "dense") {
    delete qc["sparsity_config"];
    const rest = Object.keys(qc).filter((k) => k !== "quant_method" && k !== "format" && k !== "version");
    if (rest.length === 0) delete out["quantization_config"];
    else out["quantization_config"] = qc;
    return out;
  }
  out["quantization_config"] = {
    ...qc,
    quant_method: "compressed-tensors",
    format,
    sparsity_config: sparsityConfig({ format, globalSparsity }),
  };
  return out;
}

function countZeros(bytes: Uint8Array, dtype: SafetensorsEntry["dtype"]): number {
  const size = dtypeByteSize(dtype);
  const top = dtype === "F64" || dtype === "F32" || dtype === "F16" || dtype === "BF16" ? 0x7f : 0xff; // floats: ±0
  let zeros = 0;
  for (let o = 0; o < bytes.byteLength; o += size) {
    let z = (bytes[o + size - 1]! & top) === 0;
    for (let b = 0; z && b < size - 1; b++) z = bytes[o + b] === 0;
    if (z) zeros++;
  }
  return zeros;
}

/** Group `entries` into `shards` by `shardOf` (see {@link WriteHfCheckpointOptions.shardOf}). */
function planShards(
  entries: readonly SafetensorsEntry[],
  shardOf: (name: string) => number,
  shards: SafetensorsEntry[][],
): void {
  for (const e of entries) {
    const i = shardOf(e.name);
    if (!Number.isInteger(i) || i < 0 || i > 99998) {
      throw new RangeError(
        `writeHfCheckpoint: shardOf(${quoteUntrusted(e.name)}) must be an integer in [0, 99998], got ${String(i)}`,
      );
    }
    while (shards.length <= i) shards.push([]);
    shards[i]!.push(e);
  }
  const empty = shards.findIndex((s) => s.length === 0);
  if (empty >= 0) {
    throw new RangeError(
      `writeHfCheckpoint: shardOf maps no tensor to shard ${empty} of ${shards.length}; every shard needs one`,
    );
  }
}

/**
 * Write a Hugging Face checkpoint folder: safetensors shards of at most `maxShardSizeBytes` of
 * tensor data (`model-0000i-of-0000N.safetensors` + `model.safetensors.index.json` with
 * `metadata.total_size` and a sorted `weight_map`; a single `model.safetensors` and no index when
 * everything fits one shard, as transformers does), and config.json. With a sparse `format`, the
 * targeted weights are stored in the compressed-tensors layout and config.json records
 * `quantization_config.sparsity_config`. Everything goes through `dir`'s staging area and is
 * committed at the end; any failure aborts it (nothing appears at the destination).
 *
 * Memory: dense shards stream one tensor at a time; sparse shards are compressed in memory before
 * their header can be written (at most one shard of compressed data).
 *
 * @throws PruneError MASK_INVALID (a 2:4 target breaks the pattern), SHAPE_MISMATCH, DTYPE_*,
 *   TENSOR_IO_WRITE_FAILED, TENSOR_IO_EXISTS, ABORTED.
 * @throws RangeError for a non-positive `maxShardSizeBytes` or duplicate tensor names.
 * @example
 * await writeHfCheckpoint(dir, { config: ckpt.config, tensors: checkpointEntries(ckpt), format: "sparse-bitmask" });
 */
export async function writeHfCheckpoint(
  dir: WritableCheckpointDir,
  options: WriteHfCheckpointOptions,
): Promise<WriteHfCheckpointResult> {
  const maxShard = options.maxShardSizeBytes ?? 2 * 1024 ** 3;
  if (!Number.isSafeInteger(maxShard) || maxShard <= 0) {
    throw new RangeError(`writeHfCheckpoint: maxShardSizeBytes must be a positive integer, got ${maxShard}`);
  }
  const format = options.format ?? "dense";
  const isTarget = options.isTarget ?? isBlockLinear;
  try {
    // Plan: entries carry name/dtype/shape up front; data stays lazy.
    const entries: SafetensorsEntry[] = [];
    const seen = new Set<string>();
    const extras = options.extraFiles ?? [];
    for (const x of extras) {
      checkFileName(x.file, `writeHfCheckpoint: extraFiles`);
      if (x.file === "config.json" || x.file === HF_INDEX_FILE || WEIGHT_FILE.test(x.file)) {
        throw new RangeError(
          `writeHfCheckpoint: extraFiles cannot contain ${x.file}: the writer produces it`,
        );
      }
    }
    for await (const e of options.tensors) {
      if (seen.has(e.name))
        throw new RangeError(`writeHfCheckpoint: duplicate tensor name ${quoteUntrusted(e.name)}`);
      seen.add(e.name);
      entries.push(e);
    }
    const shards: SafetensorsEntry[][] = [];
    if (options.shardOf !== undefined) planShards(entries, options.shardOf, shards);
    let current: SafetensorsEntry[] = [];
    let currentBytes = 0;
    for (const e of options.shardOf !== undefined ? [] : entries) {
      const bound = storedBytesBound(e, format !== "dense" && isTarget(e.name, e.shape), format);
      if (current.length > 0 && currentBytes + bound > maxShard) {
        shards.push(current);
        current = [];
        currentBytes = 0;
      }
      current.push(e);
      currentBytes += bound;
    }
    if (current.length > 0 || shards.length === 0) shards.push(current);
    const n = shards.length;
    const fileOf = (i: number): string =>
      n === 1 ? HF_SINGLE_FILE : `model-${padShard(i + 1)}-of-${padShard(n)}.safetensors`;

    const weightMap: [string, string][] = [];
    const files: string[] = [];
    let totalSize = 0;
    let zeros = 0;
    let targetNumel = 0;
    for (let i = 0; i < n; i++) {
      const file = fileOf(i);
      let stored: SafetensorsEntry[];
      if (format === "dense") {
        stored = shards[i]!;
      } else {
        stored = [];
        for (const e of shards[i]!) {
          if (options.signal?.aborted)
            throw new PruneError("ABORTED", `writeHfCheckpoint: aborted at ${e.name}`);
          if (!isTarget(e.name, e.shape)) {
            stored.push(e);
            continue;
          }
          const bytes = await entryBytes(e);
          zeros += countZeros(bytes, e.dtype);
          targetNumel += bytes.byteLength / dtypeByteSize(e.dtype);
          stored.push(...compressWeight(e.name, e.dtype, e.shape, bytes, format));
        }
      }
      for (const e of stored) {
        weightMap.push([e.name, file]);
        totalSize += e.shape.reduce((a, b) => a * b, 1) * dtypeByteSize(e.dtype);
      }
      const sink = await dir.create(file);
      await writeSafetensors(sink, stored, {
        metadata: { format: "pt" },
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
      });
      files.push(file);
    }
    if (n > 1) {
      weightMap.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      const index = { metadata: { total_size: totalSize }, weight_map: Object.fromEntries(weightMap) };
      const sink = await dir.create(HF_INDEX_FILE);
      await sink.write(configJsonBytes(index));
      await sink.close();
      files.push(HF_INDEX_FILE);
    }
    const globalSparsity = targetNumel > 0 ? zeros / targetNumel : 0;
    for (const x of extras) {
      const bytes = typeof x.data === "function" ? await x.data() : x.data;
      const extraSink = await dir.create(x.file);
      await extraSink.write(bytes);
      await extraSink.close();
      files.push(x.file);
    }
    const sink = await dir.create("config.json");
    await sink.write(configJsonBytes(withSparsity(options.config, format, globalSparsity)));
    await sink.close();
    files.push("config.json");
    await dir.commit();
    return format === "dense"
      ? { files, totalSizeBytes: totalSize }
      : { files, totalSizeBytes: totalSize, globalSparsity };
  } catch (e) {
    await dir.abort(e).catch(() => undefined);
    throw e;
  }
}

/**
 * Lazy safetensors entries for every tensor of a reader (raw bytes in the stored dtype), ready for
 * {@link writeHfCheckpoint}: re-save or re-shard a checkpoint one tensor at a time.
 *
 * @example
 * await writeHfCheckpoint(dir, { config: ckpt.config, tensors: checkpointEntries(ckpt) });
 */
export function checkpointEntries(reader: TensorReader): SafetensorsEntry[] {
  return reader.list().map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    data: () => reader.readRaw(t.name),
  }));
}
