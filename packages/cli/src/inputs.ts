// ---- Opening what the user points at: checkpoints, tokenizers, texts ----

import { readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { escapeUntrusted, type Logger, PruneError } from "@mama-prune/core";
import { decodeTextBytes } from "@mama-prune/eval";
import { createLlama2cTokenizer, loadHfTokenizer, parseLlamaConfig, type Tokenizer } from "@mama-prune/model";
import { type Checkpoint, readLlama2cTokenizer, type SideFile } from "@mama-prune/tensor-io";
import { openCheckpoint } from "@mama-prune/tensor-io/node";

/** A tokenizer together with where it came from and a file to carry into pruned folders. */
export interface LoadedTokenizer {
  readonly tokenizer: Tokenizer;
  readonly path: string;
  /** Files to write next to a pruned checkpoint so `eval <out>` finds the tokenizer again. */
  readonly sideFiles: readonly SideFile[];
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isFile() ?? false;
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

/** How {@link openModel} reads files. */
export interface OpenModelOptions {
  /**
   * Accept safetensors files that strict reading refuses but whose data is unambiguous (unused bytes
   * before, between or after tensors; unknown entry fields), reporting each through `warn`.
   * Default false: such files are errors (TENSOR_IO_MALFORMED).
   */
  readonly lenient?: boolean;
  /** Receives each reader warning (already escaped and bounded: safe to print). */
  readonly warn?: (message: string) => void;
}

/** A tensor-io logger that forwards warnings, escaped (control characters) and bounded, to `warn`. */
function warningLogger(warn: (message: string) => void): Logger {
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: (message) => warn(escapeUntrusted(message, 400)),
  };
}

/**
 * Open a checkpoint (llama2.c .bin, .safetensors file or Hugging Face folder — tensor-io detects
 * which) and check that its config describes a supported Llama-family model. Safetensors files
 * are read strictly unless `options.lenient`.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND, TENSOR_IO_MALFORMED, TENSOR_IO_UNSUPPORTED, CONFIG_INVALID,
 *   ARCH_UNSUPPORTED.
 * @example
 * const ckpt = await openModel("data/stories260K/stories260K.bin");
 */
export async function openModel(path: string, options: OpenModelOptions = {}): Promise<Checkpoint> {
  const ckpt = await openCheckpoint(path, {
    lenient: options.lenient === true,
    ...(options.warn !== undefined ? { logger: warningLogger(options.warn) } : {}),
  });
  try {
    parseLlamaConfig(ckpt.config, `${path} config`);
  } catch (e) {
    await ckpt.close();
    throw e;
  }
  return ckpt;
}

/**
 * Where the tokenizer of a checkpoint is, when not given explicitly: in a folder, `tokenizer.json`
 * then `tokenizer.bin`; beside a file, `tokenizer.json`, `tokenizer.bin`, then the only `tok*.bin`.
 *
 * @example
 * await findTokenizer("data/stories260K/stories260K.bin"); // "data/stories260K/tok512.bin"
 */
export async function findTokenizer(checkpointPath: string): Promise<string | undefined> {
  const dir = (await isDir(checkpointPath)) ? checkpointPath : dirname(checkpointPath);
  for (const name of ["tokenizer.json", "tokenizer.bin"]) {
    if (await isFile(join(dir, name))) return join(dir, name);
  }
  const toks = (await readdir(dir).catch(() => [] as string[])).filter((f) => /^tok.*\.bin$/.test(f)).sort();
  return toks.length === 1 ? join(dir, toks[0]!) : undefined;
}

/** Pieces in a llama2.c tokenizer.bin (the file does not store the count), or -1 when malformed. */
function countLlama2cPieces(bytes: Uint8Array): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 4;
  let n = 0;
  while (o < bytes.length) {
    if (o + 8 > bytes.length) return -1;
    const len = dv.getInt32(o + 4, true);
    if (len < 0) return -1;
    o += 8 + len;
    n++;
  }
  return o === bytes.length && bytes.length >= 4 ? n : -1;
}

/**
 * Load a tokenizer file (`tokenizer.json` of Hugging Face, with `tokenizer_config.json` beside it
 * when present, or a llama2.c `tokenizer.bin`) and check it against the model's vocabulary.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND (missing file), TOKENIZER_INVALID (unreadable),
 *   TOKENIZER_MISMATCH (its vocabulary does not fit the model's `vocabSize`).
 * @example
 * const t = await loadTokenizer("data/stories260K/tok512.bin", 512, "stories260K.bin");
 */
export async function loadTokenizer(
  path: string,
  vocabSize: number,
  modelName: string,
): Promise<LoadedTokenizer> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw new PruneError("TENSOR_IO_NOT_FOUND", `${path}: tokenizer file not found or unreadable.`, {
      cause: e,
    });
  }
  if (path.endsWith(".json")) {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new PruneError(
        "TOKENIZER_INVALID",
        `${path}: not valid JSON. Expected a tokenizer.json, got a parse error.`,
        {
          cause: e,
        },
      );
    }
    const cfgPath = join(dirname(path), "tokenizer_config.json");
    let cfg: object = {};
    if (await isFile(cfgPath)) {
      try {
        cfg = JSON.parse(await readFile(cfgPath, "utf8")) as object;
      } catch (e) {
        throw new PruneError("TOKENIZER_INVALID", `${cfgPath}: not valid JSON.`, { cause: e });
      }
    }
    const tokenizer = await loadHfTokenizer(json as object, cfg);
    if (tokenizer.vocabSize > vocabSize) {
      throw new PruneError(
        "TOKENIZER_MISMATCH",
        `${path}: tokenizer does not match model ${modelName}. Expected at most ${vocabSize} tokens (the model's vocab_size), got ${tokenizer.vocabSize}.`,
      );
    }
    const side: SideFile[] = [{ file: "tokenizer.json", data: bytes }];
    if (await isFile(cfgPath))
      side.push({ file: "tokenizer_config.json", data: new Uint8Array(await readFile(cfgPath)) });
    return { tokenizer, path, sideFiles: side };
  }
  const pieces = countLlama2cPieces(bytes);
  if (pieces >= 0 && pieces !== vocabSize) {
    throw new PruneError(
      "TOKENIZER_MISMATCH",
      `${path}: tokenizer does not match model ${modelName}. Expected ${vocabSize} pieces (the model's vocab_size), got ${pieces}.`,
    );
  }
  const tokenizer = createLlama2cTokenizer(readLlama2cTokenizer(bytes, vocabSize, path));
  return { tokenizer, path, sideFiles: [{ file: "tokenizer.bin", data: bytes }] };
}

/**
 * The tokenizer for a checkpoint: the explicit path, else one found by {@link findTokenizer}.
 *
 * @throws PruneError TOKENIZER_INVALID when none is given or found (naming where it looked), and
 *   everything {@link loadTokenizer} throws.
 * @example
 * const { tokenizer } = await tokenizerFor(ckpt, "data/stories260K/stories260K.bin");
 */
export async function tokenizerFor(
  checkpoint: Checkpoint,
  checkpointPath: string,
  explicit?: string,
): Promise<LoadedTokenizer> {
  const path = explicit ?? (await findTokenizer(checkpointPath));
  if (path === undefined) {
    throw new PruneError(
      "TOKENIZER_INVALID",
      `${checkpointPath}: no tokenizer found. Expected --tokenizer <file>, or tokenizer.json / tokenizer.bin / tok*.bin next to the model, got none.`,
    );
  }
  const cfg = parseLlamaConfig(checkpoint.config, `${checkpointPath} config`);
  return loadTokenizer(path, cfg.vocabSize, basename(checkpointPath));
}

/**
 * Read a text file that must be UTF-8 text (checked by `@mama-prune/eval`'s `decodeTextBytes`:
 * strict UTF-8, no NUL or other control bytes but tab, newline, form feed and CR, leading BOM
 * stripped) and not empty.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND (missing or unreadable), and `code` (e.g.
 *   CALIBRATION_INVALID or EVAL_INVALID) for binary data (naming the byte offset) or a text that
 *   holds only whitespace.
 * @example
 * const text = await readText("data/tinystories/tinystories_val.txt", "evaluation", "EVAL_INVALID");
 */
export async function readText(
  path: string,
  role: string,
  code: "CALIBRATION_INVALID" | "EVAL_INVALID",
): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    const errno = (e as { code?: string }).code;
    throw new PruneError(
      "TENSOR_IO_NOT_FOUND",
      `${path}: cannot read the ${role} text. Expected a readable UTF-8 file, got ${errno ?? "an error"}.`,
      { cause: e },
    );
  }
  const text = decodeTextBytes(bytes, path, { code, role });
  if (text.trim() === "") {
    throw new PruneError(
      code,
      `${path}: the ${role} text is empty. Expected some text, got ${text.length} characters of whitespace.`,
    );
  }
  return text;
}
