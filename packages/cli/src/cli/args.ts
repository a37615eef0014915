// ---- What every command's argument parsing shares: parseArgs with the global flags, typed flag
// readers, recipe files and JSON output. ----

import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CPU_BACKEND_CHOICES, type CpuBackendChoice } from "@mama-prune/compute-wasm/node";
import { PruneError } from "@mama-prune/core";
import { UsageError } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { parseRecipe, type Recipe } from "../recipe.ts";

/** The global flags, read before dispatch. */
export interface Flags {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly debug: boolean;
}

/** One command of `mama-prune`: its arguments (after the command name) → exit code. */
export type CommandRunner = (args: readonly string[], io: CliIo, flags: Flags) => Promise<number>;

export const GLOBAL = {
  json: { type: "boolean" },
  quiet: { type: "boolean" },
  debug: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export function parse<
  T extends Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>,
>(
  command: string,
  args: readonly string[],
  options: T,
  maxPositionals: number,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  let r: ReturnType<typeof parseArgs>;
  try {
    r = parseArgs({
      args: [...args],
      options: { ...GLOBAL, ...options },
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
export const BACKEND_FLAGS = {
  backend: { type: "string" },
  threads: { type: "string" },
} as const;

export function backendFlags(v: Record<string, unknown>): { backend?: CpuBackendChoice; threads?: number } {
  const b = str(v["backend"]);
  if (b !== undefined && !(CPU_BACKEND_CHOICES as readonly string[]).includes(b)) {
    throw new UsageError(
      `--backend: expected one of ${CPU_BACKEND_CHOICES.join(", ")}, got ${JSON.stringify(b.slice(0, 40))}`,
    );
  }
  const threads = intFlag(v["threads"], "--threads", 1);
  if (threads !== undefined && threads > 256) {
    throw new UsageError(`--threads: expected an integer in [1, 256], got ${threads}`);
  }
  if (threads !== undefined && b === "js") {
    throw new UsageError("--threads: only the wasm backend has threads, got --backend js");
  }
  return {
    ...(b !== undefined ? { backend: b as CpuBackendChoice } : {}),
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
