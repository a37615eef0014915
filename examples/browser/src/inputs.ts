// Model and tokenizer from what the page was given: the bundled stories260K (bytes fetched from the
// page's own static assets), or files the user picked from disk — a llama2.c `.bin` with its
// `tokenizer.bin` / `tok*.bin`, a `.safetensors` with `config.json` and `tokenizer.json`, or a whole
// Hugging Face folder. Picked files are read lazily through `Blob.slice`, so a large checkpoint is
// never copied into memory at once. Web-standard APIs only (runs in the worker and in Node tests).
import { PruneError } from "@mama-prune/core";
import { createLlama2cTokenizer, loadHfTokenizer, parseLlamaConfig, type Tokenizer } from "@mama-prune/model";
import {
  type ByteSource,
  blobSource,
  type Checkpoint,
  type CheckpointDir,
  checkpointFromReader,
  HF_INDEX_FILE,
  HF_SINGLE_FILE,
  parseJsonObject,
  readHfCheckpoint,
  readLlama2c,
  readLlama2cTokenizer,
  readSafetensors,
  type SideFile,
  sideFiles,
} from "@mama-prune/tensor-io";

/** One picked file and its name inside the picked folder (or its own name). */
export interface PickedFile {
  readonly path: string;
  readonly file: Blob;
}

/** A model ready to prune: its checkpoint, tokenizer and the files to copy beside the pruned weights. */
export interface LoadedModel {
  /** Display name (file or folder). */
  readonly name: string;
  readonly checkpoint: Checkpoint;
  readonly tokenizer: Tokenizer;
  /** Tokenizer (and generation) files written beside the pruned checkpoint. */
  readonly sideFiles: readonly SideFile[];
  /** SHA-256 of the model file (hex) when it is one file of at most 256 MiB, as the CLI reports it. */
  readonly checksum?: string;
}

/** Largest single model file hashed for the protocol line (the CLI's limit). */
const CHECKSUM_MAX_BYTES = 256 * 1024 * 1024;

/** SHA-256 of bytes as lowercase hex (Web Crypto). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function blobBytes(b: Blob): Promise<Uint8Array> {
  return new Uint8Array(await b.arrayBuffer());
}

function llama2cTokenizer(bytes: Uint8Array, checkpoint: Checkpoint, name: string): Tokenizer {
  const cfg = parseLlamaConfig(checkpoint.config, `${checkpoint.source} config`);
  return createLlama2cTokenizer(readLlama2cTokenizer(bytes, cfg.vocabSize, name));
}

/**
 * A llama2.c model from its bytes and its tokenizer.bin (the bundled stories260K).
 *
 * @example
 * const m = await llama2cModel(modelBytes, tokBytes, { model: "stories260K.bin", tokenizer: "tok512.bin" });
 */
export async function llama2cModel(
  modelBytes: Uint8Array,
  tokenizerBytes: Uint8Array,
  names: { readonly model: string; readonly tokenizer: string },
): Promise<LoadedModel> {
  const checkpoint = await readLlama2c(modelBytes, names.model);
  return {
    name: names.model,
    checkpoint,
    tokenizer: llama2cTokenizer(tokenizerBytes, checkpoint, names.tokenizer),
    sideFiles: [{ file: "tokenizer.bin", data: tokenizerBytes }],
    checksum: await sha256Hex(modelBytes),
  };
}

/** The top-level files of a picked folder (or a flat list of picked files), keyed by file name. */
function topLevel(files: readonly PickedFile[]): Map<string, Blob> {
  const out = new Map<string, Blob>();
  for (const f of files) {
    const parts = f.path.split("/").filter((p) => p !== "");
    // "folder/config.json" (webkitdirectory) or "config.json" (multiple files); deeper files are ignored.
    if (parts.length === 1 || parts.length === 2) out.set(parts[parts.length - 1]!, f.file);
  }
  return out;
}

/** A read-only {@link CheckpointDir} over picked files. */
function blobDir(name: string, files: ReadonlyMap<string, Blob>): CheckpointDir {
  return {
    name,
    list: async () => [...files.keys()],
    exists: async (file) => files.has(file),
    open: async (file): Promise<ByteSource> => {
      const b = files.get(file);
      if (b === undefined) {
        throw new PruneError("TENSOR_IO_NOT_FOUND", `${name}/${file}: not among the picked files.`);
      }
      return blobSource(b, `${name}/${file}`);
    },
  };
}

async function jsonFile(blob: Blob, where: string): Promise<object> {
  try {
    const v: unknown = JSON.parse(await blob.text());
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v;
  } catch (cause) {
    throw new PruneError("TOKENIZER_INVALID", `${where}: not valid JSON. Expected a JSON object.`, { cause });
  }
  throw new PruneError("TOKENIZER_INVALID", `${where}: expected a JSON object, got another JSON value.`);
}

async function hfTokenizer(files: ReadonlyMap<string, Blob>, where: string): Promise<Tokenizer> {
  const cfg = files.get("tokenizer_config.json");
  return await loadHfTokenizer(
    await jsonFile(files.get("tokenizer.json")!, `${where}/tokenizer.json`),
    cfg !== undefined ? await jsonFile(cfg, `${where}/tokenizer_config.json`) : {},
  );
}

/**
 * Open the model in the picked files: a Hugging Face folder (config.json + model.safetensors or an
 * index with shards), one `.safetensors` with a config.json, or a llama2.c `.bin`; the tokenizer is
 * tokenizer.json (+ tokenizer_config.json) or a llama2.c tokenizer.bin / the only tok*.bin.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND when no model or config is among the files,
 *   TOKENIZER_INVALID when no tokenizer is, TOKENIZER_MISMATCH when tokenizer.json has more tokens
 *   than the model, and every reader error (naming the file).
 */
export async function pickedModel(name: string, picked: readonly PickedFile[]): Promise<LoadedModel> {
  const files = topLevel(picked);
  const names = [...files.keys()].sort();
  const got = names.length === 0 ? "no files" : names.join(", ");
  const tokBins = names.filter((n) => /^tok.*\.bin$/.test(n));
  const safetensors = names.filter((n) => n.endsWith(".safetensors"));
  const llamaBins = names.filter((n) => n.endsWith(".bin") && !tokBins.includes(n));

  let checkpoint: Checkpoint;
  let checksumOf: Blob | undefined;
  let modelName = name;
  if (files.has(HF_SINGLE_FILE) || files.has(HF_INDEX_FILE)) {
    checkpoint = await readHfCheckpoint(blobDir(name, files));
  } else if (safetensors.length === 1) {
    const cfg = files.get("config.json");
    if (cfg === undefined) {
      throw new PruneError(
        "TENSOR_IO_NOT_FOUND",
        `${safetensors[0]}: a safetensors file needs its config.json. Expected config.json among the picked files, got ${got}.`,
      );
    }
    const blob = files.get(safetensors[0]!)!;
    const config = parseJsonObject(await blobBytes(cfg), `${name}/config.json`);
    checkpoint = await checkpointFromReader(
      await readSafetensors(blob, { name: safetensors[0]! }),
      config,
      "safetensors",
    );
    checksumOf = blob;
    modelName = safetensors[0]!;
  } else if (llamaBins.length === 1) {
    const blob = files.get(llamaBins[0]!)!;
    checkpoint = await readLlama2c(blob, llamaBins[0]!);
    checksumOf = blob;
    modelName = llamaBins[0]!;
  } else {
    throw new PruneError(
      "TENSOR_IO_NOT_FOUND",
      `${name}: no model found. Expected a Hugging Face folder (config.json + model.safetensors or ${HF_INDEX_FILE}), one .safetensors with config.json, or one llama2.c .bin, got ${got}.`,
    );
  }

  let tokenizer: Tokenizer;
  let side: SideFile[];
  if (files.has("tokenizer.json")) {
    tokenizer = await hfTokenizer(files, name);
    const vocab = parseLlamaConfig(checkpoint.config, `${name} config`).vocabSize;
    if (tokenizer.vocabSize > vocab) {
      throw new PruneError(
        "TOKENIZER_MISMATCH",
        `${name}/tokenizer.json: tokenizer does not match the model. Expected at most ${vocab} tokens (the model's vocab_size), got ${tokenizer.vocabSize}.`,
      );
    }
    side = await sideFiles(blobDir(name, files));
  } else {
    const tokName = files.has("tokenizer.bin")
      ? "tokenizer.bin"
      : tokBins.length === 1
        ? tokBins[0]
        : undefined;
    if (tokName === undefined) {
      throw new PruneError(
        "TOKENIZER_INVALID",
        `${name}: no tokenizer found. Expected tokenizer.json, tokenizer.bin or one tok*.bin among the picked files, got ${got}.`,
      );
    }
    const bytes = await blobBytes(files.get(tokName)!);
    tokenizer = llama2cTokenizer(bytes, checkpoint, tokName);
    side = [{ file: "tokenizer.bin", data: bytes }];
  }
  const checksum =
    checksumOf !== undefined && checksumOf.size <= CHECKSUM_MAX_BYTES
      ? await sha256Hex(await blobBytes(checksumOf))
      : undefined;
  return {
    name: modelName,
    checkpoint,
    tokenizer,
    sideFiles: side,
    ...(checksum !== undefined ? { checksum } : {}),
  };
}
