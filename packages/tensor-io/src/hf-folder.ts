// Hugging Face checkpoint folders: config.json + model.safetensors, or shards listed by
// model.safetensors.index.json. Library code sees a folder only through CheckpointDir (read) and
// WritableCheckpointDir (write, committed atomically); `@mama-prune/tensor-io/node` adapts real
// folders, `memoryCheckpointDir` keeps files in memory (tests, browsers).

import { type Logger, PruneError, SILENT_LOGGER, truncateForMessage } from "@mama-prune/core";
import { bytesSource } from "./byte-source.ts";
import { configJsonBytes, parseJsonObject } from "./config.ts";
import { dtypeByteSize, f32ToBytes } from "./dtype.ts";
import {
  readSafetensors,
  type SafetensorsEntry,
  type SafetensorsReader,
  writeSafetensors,
} from "./safetensors.ts";
import type { ByteSink } from "./sink.ts";
import {
  compressWeight,
  decompressSparseReader,
  type SparseFormat,
  sparseFormatOf,
  sparsityConfig,
} from "./sparse.ts";
import type { ByteSource, Checkpoint, TensorInfo, TensorReader } from "./types.ts";

// ---- Folder abstraction ----

/** Read access to the files of a checkpoint folder (flat: file names, no sub-folders). */
export interface CheckpointDir {
  /** Folder path or label, for messages. */
  readonly name: string;
  /** File names in the folder. */
  list(): Promise<string[]>;
  /** Open one file for random access; rejects with TENSOR_IO_NOT_FOUND when it does not exist. */
  open(file: string): Promise<ByteSource>;
  /** True when the file exists. */
  exists(file: string): Promise<boolean>;
}

/**
 * A folder being written: files are created in a staging area and appear at the destination
 * together on `commit()` (or not at all after `abort()`).
 */
export interface WritableCheckpointDir {
  /** Destination path or label, for messages. */
  readonly name: string;
  /** Create a new file in the staging area. */
  create(file: string): Promise<ByteSink>;
  /** Move everything written into place. */
  commit(): Promise<void>;
  /** Discard everything written. Safe to call after a failure or twice. */
  abort(reason?: unknown): Promise<void>;
}

const SAFE_FILE = /^[A-Za-z0-9._-]+$/;

/**
 * Validate a file name inside a checkpoint folder: one path segment of `[A-Za-z0-9._-]`, not
 * "." or "..". Guards against index files pointing outside the folder.
 *
 * @throws PruneError TENSOR_IO_MALFORMED naming `where` when the name is unsafe.
 * @example
 * checkFileName("model-00001-of-00002.safetensors", "index"); // ok
 */
export function checkFileName(file: string, where: string): void {
  if (
    typeof file !== "string" ||
    !SAFE_FILE.test(file) ||
    file === "." ||
    file === ".." ||
    file.length > 255
  ) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${where}: unsafe file name. Expected one path segment of [A-Za-z0-9._-], got ${truncateForMessage(file)}.`,
    );
  }
}

/** A folder held in memory, readable and writable (commit publishes staged files). */
export interface MemoryCheckpointDir extends CheckpointDir, WritableCheckpointDir {
  /** The committed files. */
  readonly files: Map<string, Uint8Array>;
}

/**
 * A checkpoint folder in memory: read from `files`, write through `create` + `commit`.
 *
 * @example
 * const dir = memoryCheckpointDir("out");
 * await writeHfCheckpoint(dir, { config, tensors });
 * const ckpt = await readHfCheckpoint(dir);
 */
export function memoryCheckpointDir(
  name = "<memory>",
  files: Map<string, Uint8Array> = new Map(),
): MemoryCheckpointDir {
  let staged = new Map<string, Uint8Array>();
  const pending = new Set<string>();
  return {
    name,
    files,
    list: async (): Promise<string[]> => [...files.keys()],
    exists: async (file: string): Promise<boolean> => files.has(file),
    open: async (file: string): Promise<ByteSource> => {
      const b = files.get(file);
      if (b === undefined) {
        throw new PruneError("TENSOR_IO_NOT_FOUND", `${name}/${file}: no such file.`);
      }
      return bytesSource(b, `${name}/${file}`);
    },
    create: async (file: string): Promise<ByteSink> => {
      checkFileName(file, name);
      if (staged.has(file) || pending.has(file)) {
        throw new PruneError("TENSOR_IO_EXISTS", `${name}/${file}: created twice in one write.`);
      }
      pending.add(file);
      const chunks: Uint8Array[] = [];
      return {
        write: async (chunk: Uint8Array): Promise<void> => {
          chunks.push(chunk.slice());
        },
        close: async (): Promise<void> => {
          const total = chunks.reduce((a, c) => a + c.byteLength, 0);
          const out = new Uint8Array(total); // (total,)
          let at = 0;
          for (const c of chunks) {
            out.set(c, at);
            at += c.byteLength;
          }
          pending.delete(file);
          staged.set(file, out);
        },
        abort: async (): Promise<void> => {
          pending.delete(file);
        },
      };
    },
    commit: async (): Promise<void> => {
      files.clear();
      for (const [k, v] of staged) files.set(k, v);
      staged = new Map();
    },
    abort: async (): Promise<void> => {
      staged = new Map();
      pending.clear();
    },
  };
}

// ---- Reading ----

/** The index file name of a sharded Hugging Face checkpoint. */
export const HF_INDEX_FILE = "model.safetensors.index.json";
/** The single-file weights name of a Hugging Face checkpoint. */
export const HF_SINGLE_FILE = "model.safetensors";

/** Options of {@link readHfCheckpoint}. */
export interface ReadHfCheckpointOptions {
  /** Receives warnings (tensors in a shard but not in the index, total_size mismatches). */
  readonly logger?: Logger;
}

async function readSmallFile(dir: CheckpointDir, file: string): Promise<Uint8Array> {
  const src = await dir.open(file);
  try {
    return await src.read(0, src.size);
  } finally {
    await src.close?.();
  }
}

/**
 * Wrap a TensorReader and a config as a Checkpoint of the given format, decompressing
 * compressed-tensors sparse weights when the config records a sparse format.
 *
 * @throws PruneError TENSOR_IO_UNSUPPORTED for unknown sparse formats; TENSOR_IO_MALFORMED for
 *   inconsistent sparse groups.
 * @example
 * const ckpt = await checkpointFromReader(await readSafetensors(bytes), config, "safetensors");
 */
export async function checkpointFromReader(
  reader: TensorReader,
  config: Readonly<Record<string, unknown>>,
  format: Checkpoint["format"],
): Promise<Checkpoint> {
  const r = await decompressSparseReader(reader, sparseFormatOf(config, `${reader.source}: config`));
  return {
    source: r.source,
    format,
    config,
    list: () => r.list(),
    has: (n) => r.has(n),
    info: (n) => r.info(n),
    readRaw: async (n) => r.readRaw(n),
    readF32: async (n) => r.readF32(n),
    close: () => r.close(),
  };
}

/**
 * Open a Hugging Face checkpoint folder lazily: config.json plus either model.safetensors or the
 * shards of model.safetensors.index.json (model.safetensors wins when both exist, as in
 * transformers, with a warning). Every shard named by the index must exist and hold each
 * tensor mapped to it (checked from the shard headers at open; tensor data is read on demand).
 * Weights stored as compressed-tensors `sparse-bitmask` / `sparse-24-bitmask` (recorded in
 * `config.quantization_config.sparsity_config`) are listed and read as dense tensors.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND (no config.json, no weights, a missing shard);
 *   CONFIG_INVALID (config.json not a JSON object); TENSOR_IO_MALFORMED (bad index, a mapped tensor
 *   missing from its shard, a tensor in two shards, unsafe shard names, bad safetensors);
 *   TENSOR_IO_UNSUPPORTED (unknown sparse format).
 * @example
 * const ckpt = await readHfCheckpoint(await openCheckpointDir("out/pruned")); // from /node
 * ckpt.config.model_type; // "llama"
 */
export async function readHfCheckpoint(
  dir: CheckpointDir,
  options: ReadHfCheckpointOptions = {},
): Promise<Checkpoint> {
  const log = options.logger ?? SILENT_LOGGER;
  if (!(await dir.exists("config.json"))) {
    throw new PruneError(
      "TENSOR_IO_NOT_FOUND",
      `${dir.name}: config.json is missing. Expected a Hugging Face checkpoint folder, got no config.json.`,
    );
  }
  const config = parseJsonObject(await readSmallFile(dir, "config.json"), `${dir.name}/config.json`);
  const opened: SafetensorsReader[] = [];
  try {
    let reader: TensorReader;
    const hasSingle = await dir.exists(HF_SINGLE_FILE);
    const hasIndex = await dir.exists(HF_INDEX_FILE);
    if (hasSingle && hasIndex) {
      // transformers' from_pretrained looks for model.safetensors first; do the same, loudly.
      log.warn(`${dir.name}: both ${HF_SINGLE_FILE} and ${HF_INDEX_FILE} exist; reading ${HF_SINGLE_FILE}`);
    }
    if (!hasSingle && hasIndex) {
      reader = await readSharded(dir, opened, log);
    } else if (hasSingle) {
      const st = await readSafetensors(await dir.open(HF_SINGLE_FILE), {
        name: `${dir.name}/${HF_SINGLE_FILE}`,
        logger: log,
      });
      opened.push(st);
      reader = st;
    } else {
      const pickles = (await dir.list()).filter((f) => /^pytorch_model.*\.bin$/.test(f));
      if (pickles.length > 0) {
        throw new PruneError(
          "TENSOR_IO_UNSUPPORTED",
          `${dir.name}: only PyTorch pickle weights (${pickles[0]}). Expected ${HF_SINGLE_FILE} or ${HF_INDEX_FILE}, got pickle files (convert them to safetensors).`,
        );
      }
      throw new PruneError(
        "TENSOR_IO_NOT_FOUND",
        `${dir.name}: no weights. Expected ${HF_SINGLE_FILE} or ${HF_INDEX_FILE}, got neither.`,
      );
    }
    return await checkpointFromReader(reader, config, "hf-folder");
  } catch (e) {
    await Promise.all(opened.map((r) => r.close().catch(() => undefined)));
    throw e;
  }
}

async function readSharded(
  dir: CheckpointDir,
  opened: SafetensorsReader[],
  log: Logger,
): Promise<TensorReader> {
  const where = `${dir.name}/${HF_INDEX_FILE}`;
  const index = parseJsonObject(await readSmallFile(dir, HF_INDEX_FILE), where, "TENSOR_IO_MALFORMED");
  const map = index["weight_map"];
  if (typeof map !== "object" || map === null || Array.isArray(map)) {
    throw new PruneError(
      "TENSOR_IO_MALFORMED",
      `${where}: weight_map is missing or not an object. Expected {"tensor name": "shard file"}, got ${truncateForMessage(map)}.`,
    );
  }
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== "string") {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${where}: weight_map entry ${truncateForMessage(name)} is not a file name. Expected a string, got ${truncateForMessage(file)}.`,
      );
    }
    checkFileName(file, `${where}: weight_map[${truncateForMessage(name)}]`);
    weightMap.set(name, file);
  }
  const shardFiles = [...new Set(weightMap.values())].sort();
  for (const file of shardFiles) {
    if (!(await dir.exists(file))) {
      throw new PruneError(
        "TENSOR_IO_NOT_FOUND",
        `${where}: shard ${file} is listed in weight_map but missing from the folder. Expected ${shardFiles.length} shard files, got ${file} missing.`,
      );
    }
  }
  const shards = new Map<string, SafetensorsReader>();
  for (const file of shardFiles) {
    const st = await readSafetensors(await dir.open(file), { name: `${dir.name}/${file}`, logger: log });
    opened.push(st);
    shards.set(file, st);
  }
  for (const [name, file] of weightMap) {
    if (!shards.get(file)!.has(name)) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${where}: tensor ${truncateForMessage(name)} is mapped to ${file}, but that shard does not contain it. Expected it in ${file}'s header, got no such tensor.`,
      );
    }
  }
  const owner = new Map<string, SafetensorsReader>();
  const infos: TensorInfo[] = [];
  for (const file of shardFiles) {
    const st = shards.get(file)!;
    for (const t of st.list()) {
      const mapped = weightMap.get(t.name);
      if (mapped === undefined) {
        log.warn(`${dir.name}/${file}: tensor ${t.name} is not in ${HF_INDEX_FILE}; ignored`, {
          tensor: t.name,
        });
        continue;
      }
      if (mapped !== file) continue; // also present in another shard: the index decides
      owner.set(t.name, st);
      infos.push(t);
    }
  }
  const total = infos.reduce((a, t) => a + t.byteLength, 0);
  const meta = index["metadata"] as Record<string, unknown> | undefined;
  const declared = meta?.["total_size"];
  if (typeof declared === "number" && declared !== total) {
    log.warn(`${where}: metadata.total_size is ${declared} but the mapped tensors hold ${total} bytes`, {
      declared,
      total,
    });
  }
  const get = (name: string): SafetensorsReader => {
    const st = owner.get(name);
    if (st === undefined) {
      throw new PruneError(
        "TENSOR_IO_NOT_FOUND",
        `${dir.name}: no tensor named ${truncateForMessage(name)} in this checkpoint.`,
      );
    }
    return st;
  };
  return {
    source: dir.name,
    list: () => infos,
    has: (n) => owner.has(n),
    info: (n) => get(n).info(n),
    readRaw: async (n) => get(n).readRaw(n),
    readF32: async (n) => get(n).readF32(n),
    close: async () => {
      await Promise.all([...shards.values()].map((s) => s.close()));
    },
  };
}

// ---- Writing ----

/** Options of {@link writeHfCheckpoint}. */
export interface WriteHfCheckpointOptions {
  /** The Hugging Face config object written as config.json (sparsity_config added/removed per `format`). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Tensors in the order to store them; give `data` as a function to stream one tensor at a time. */
  readonly tensors: Iterable<SafetensorsEntry> | AsyncIterable<SafetensorsEntry>;
  /** Largest shard in bytes of tensor data (a bigger single tensor gets a shard of its own). Default 2 GiB. */
  readonly maxShardSizeBytes?: number;
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
        throw new RangeError(`writeHfCheckpoint: duplicate tensor name ${truncateForMessage(e.name)}`);
      seen.add(e.name);
      entries.push(e);
    }
    const shards: SafetensorsEntry[][] = [];
    let current: SafetensorsEntry[] = [];
    let currentBytes = 0;
    for (const e of entries) {
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
