// ---- What every command's argument parsing shares: parseArgs with the global flags, typed flag
// readers, recipe files and JSON output. ----

import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { PruneError } from "@mama-prune/core";
import { BACKEND_CHOICES, type BackendChoice, THREADED_BACKENDS } from "../commands/context.ts";
import { UsageError } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { parseRecipe, type Recipe } from "../recipe.ts";
import { type CommandSpec, type FlagTable, type ParsedArgs, parseOptions } from "./spec.ts";

/**
 * Parse a command's arguments with exactly the flags of its table (plus the global ones);
 * unknown flags, missing values and extra positionals are usage errors naming the command.
 */
export function parse(spec: CommandSpec, args: readonly string[]): ParsedArgs {
  const command = spec.name;
  const maxPositionals = spec.positionals.length;
  let r: ReturnType<typeof parseArgs>;
  try {
    r = parseArgs({
      args: [...args],
      options: parseOptions(spec),
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
    throw new UsageError(
      `${command}: ${msg.replace(/\. To specify a positional.*$/, "").replace(/\.$/, "")}`,
    );
  }
  if (r.positionals.length > maxPositionals) {
    throw new UsageError(
      `${command}: unexpected argument ${JSON.stringify(r.positionals[maxPositionals])}. Expected at most ${maxPositionals} positional argument${maxPositionals === 1 ? "" : "s"}`,
    );
  }
  return {
    values: r.values as Record<string, string | boolean | string[] | undefined>,
    positionals: r.positionals,
  };
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function intFlag(v: unknown, flag: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v).trim();
  const n = /^-?\d+$/.test(s) ? Number(s) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(
      `${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(String(v).slice(0, 40))}`,
    );
  }
  return n;
}

/** `--backend` and `--threads`, taken by every command that runs the model. */
export const BACKEND_FLAGS: FlagTable = {
  backend: {
    type: "string",
    value: BACKEND_CHOICES.join("|"),
    description:
      "compute backend: WebAssembly SIMD (wasm), plain JavaScript (js), WebGPU through Dawn (webgpu; without a GPU set VK_ICD_FILENAMES to SwiftShader's ICD) or native (onnxruntime-node's MLAS for the large matmuls, wasm for the rest; needs onnxruntime-node installed)",
    default: "auto: native where onnxruntime-node loads, else wasm, else js",
  },
  threads: {
    type: "string",
    value: "<n>",
    description: "threads of the wasm or native backend, 1 to 256",
    default: "all cores, at most 8",
  },
};

/** `--tokenizer`, taken by every command that tokenizes text. */
export const TOKENIZER_FLAG: FlagTable = {
  tokenizer: {
    type: "string",
    value: "<file>",
    description: "tokenizer.json or llama2.c tokenizer .bin",
    default: "tokenizer.json / tokenizer.bin / tok*.bin next to the checkpoint",
  },
};

/** `--lenient`, taken by every command that reads checkpoints. */
export const LENIENT_FLAG: FlagTable = {
  lenient: {
    type: "boolean",
    description: "accept safetensors files with unused bytes or unknown fields, with a warning each",
    default: "false",
  },
};

export function backendFlags(v: Record<string, unknown>): { backend?: BackendChoice; threads?: number } {
  const b = str(v["backend"]);
  if (b !== undefined && !(BACKEND_CHOICES as readonly string[]).includes(b)) {
    throw new UsageError(
      `--backend: expected one of ${BACKEND_CHOICES.join(", ")}, got ${JSON.stringify(b.slice(0, 40))}`,
    );
  }
  const threads = intFlag(v["threads"], "--threads", 1);
  if (threads !== undefined && threads > 256) {
    throw new UsageError(`--threads: expected an integer in [1, 256], got ${threads}`);
  }
  if (threads !== undefined && b !== undefined && !(THREADED_BACKENDS as readonly string[]).includes(b)) {
    throw new UsageError(`--threads: only the wasm and native backends have threads, got --backend ${b}`);
  }
  return {
    ...(b !== undefined ? { backend: b as BackendChoice } : {}),
    ...(threads !== undefined ? { threads } : {}),
  };
}

/** A plugin method's name is always `scope/name`; it is looked up once the plugins are loaded. */

export async function loadRecipeFile(
  path: string,
  cwd: string,
): Promise<{ recipe: Recipe; baseDir: string }> {
  const full = resolve(cwd, path);
  let text: string;
  try {
    text = await readFile(full, "utf8");
  } catch (e) {
    throw new PruneError(
      "TENSOR_IO_NOT_FOUND",
      `${path}: cannot read the recipe (${(e as { code?: string }).code ?? "error"}).`,
      {
        cause: e,
      },
    );
  }
  return { recipe: parseRecipe(text, path), baseDir: dirname(full) };
}

export function jsonOut(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A number flag: finite, and `ok(x)` (described by `expected`), else a usage error naming the flag.
 *
 * @example
 * numFlag("0.5", "--alpha", (x) => x >= 0 && x <= 1, "a number in [0, 1]"); // 0.5
 */
export function numFlag(
  v: unknown,
  flag: string,
  ok: (x: number) => boolean,
  expected: string,
): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v).trim();
  const n = s === "" ? Number.NaN : Number(s);
  if (!Number.isFinite(n) || !ok(n)) {
    throw new UsageError(`${flag}: expected ${expected}, got ${JSON.stringify(String(v).slice(0, 40))}`);
  }
  return n;
}

/** `--out`, `--overwrite` and `--format`, taken by every command that writes a model folder. */
export function outputFormatFlag(v: unknown, formats: readonly string[]): string {
  const s = v === "sparse-24-bitmask" ? "sparse-24" : String(v);
  if (!formats.includes(s)) {
    throw new UsageError(
      `--format: expected one of ${formats.join(", ")}, got ${JSON.stringify(s.slice(0, 40))}`,
    );
  }
  return s;
}
