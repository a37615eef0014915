// Hugging Face checkpoint folders, reading: config.json + model.safetensors, or shards listed by
// model.safetensors.index.json. The folder abstraction is in checkpoint-dir.ts, the writer in
// hf-folder-write.ts (both re-exported here).

import { type Logger, PruneError, quoteUntrusted, SILENT_LOGGER, truncateForMessage } from "@mama-prune/core";
import {
  type CheckpointDir,
  checkFileName,
  HF_INDEX_FILE,
  HF_SINGLE_FILE,
  readSmallFile,
} from "./checkpoint-dir.ts";
import { parseJsonObject } from "./config.ts";
import { readSafetensors, type SafetensorsReader } from "./safetensors.ts";
import { decompressSparseReader, sparseFormatOf } from "./sparse.ts";
import type { Checkpoint, TensorInfo, TensorReader } from "./types.ts";

export {
  type CheckpointDir,
  checkFileName,
  HF_INDEX_FILE,
  HF_SINGLE_FILE,
  type MemoryCheckpointDir,
  memoryCheckpointDir,
  type WritableCheckpointDir,
} from "./checkpoint-dir.ts";
export {
  checkpointEntries,
  isBlockLinear,
  type SideFile,
  sideFiles,
  type WriteHfCheckpointOptions,
  type WriteHfCheckpointResult,
  writeHfCheckpoint,
} from "./hf-folder-write.ts";

// ---- Reading ----

/** Options of {@link readHfCheckpoint}. */
export interface ReadHfCheckpointOptions {
  /** Receives warnings (tensors in a shard but not in the index, total_size mismatches, lenient findings). */
  readonly logger?: Logger;
  /**
   * Read every safetensors file of the folder leniently (see `readSafetensors`): unused bytes and
   * unknown entry fields become warnings instead of errors. Default false (strict).
   */
  readonly lenient?: boolean;
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
    ...(r.readRawRange !== undefined
      ? { readRawRange: async (n: string, o: number, k: number) => r.readRawRange!(n, o, k) }
      : {}),
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
      reader = await readSharded(dir, opened, log, options.lenient ?? false);
    } else if (hasSingle) {
      const st = await openSafetensors(dir, HF_SINGLE_FILE, log, options.lenient ?? false);
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

// One safetensors file of the folder; the file is closed again when it does not validate.
async function openSafetensors(
  dir: CheckpointDir,
  file: string,
  logger: Logger,
  lenient: boolean,
): Promise<SafetensorsReader> {
  const src = await dir.open(file);
  try {
    return await readSafetensors(src, { name: `${dir.name}/${file}`, logger, lenient });
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

async function readSharded(
  dir: CheckpointDir,
  opened: SafetensorsReader[],
  log: Logger,
  lenient: boolean,
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
        `${where}: weight_map entry ${quoteUntrusted(name)} is not a file name. Expected a string, got ${truncateForMessage(file)}.`,
      );
    }
    checkFileName(file, `${where}: weight_map[${quoteUntrusted(name)}]`);
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
    const st = await openSafetensors(dir, file, log, lenient);
    opened.push(st);
    shards.set(file, st);
  }
  for (const [name, file] of weightMap) {
    if (!shards.get(file)!.has(name)) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${where}: tensor ${quoteUntrusted(name)} is mapped to ${file}, but that shard does not contain it. Expected it in ${file}'s header, got no such tensor.`,
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
        log.warn(
          `${dir.name}/${file}: tensor ${quoteUntrusted(t.name)} is not in ${HF_INDEX_FILE}; ignored`,
          {
            tensor: t.name,
          },
        );
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
        `${dir.name}: no tensor named ${quoteUntrusted(name)} in this checkpoint.`,
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
    readRawRange: async (n, o, k) => get(n).readRawRange(n, o, k),
    readF32: async (n) => get(n).readF32(n),
    close: async () => {
      await Promise.all([...shards.values()].map((s) => s.close()));
    },
  };
}
