// ---- `mama-prune <command>`: argument parsing, dispatch, output and exit codes ----

import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CPU_BACKEND_CHOICES, type CpuBackendChoice } from "@mama-prune/compute-wasm/node";
import { PruneError } from "@mama-prune/core";
import { levelLabel, PRUNE_METHODS, type PruneMethod } from "@mama-prune/pipeline";
import { formatPrune, type PruneJob, runEval, runPrune, runSweep } from "./commands.ts";
import { EXIT_CODES, errorLine, exitCodeOf, UsageError } from "./exit-codes.ts";
import { formatInspectAny, runInspectAny } from "./inspect-any.ts";
import type { CliIo } from "./io.ts";
import { overrideMethodName } from "./overrides.ts";
import {
  type AllocationSpec,
  type MethodSpec,
  OUTPUT_FORMATS,
  type OutputFormat,
  type PluginSpec,
  parseRecipe,
  parseSeeds,
  parseSparsity,
  RECIPE_DEFAULTS,
  type Recipe,
} from "./recipe.ts";
import { safeIo } from "./safe-output.ts";
import { CLI_VERSION } from "./version.ts";

export { CLI_VERSION } from "./version.ts";

/** `mama-prune --help`. */
export const HELP: string = `mama-prune — prune Llama-family checkpoints and measure what it costs

Usage:
  mama-prune inspect <checkpoint | any .safetensors file> [--json] [--lenient]
  mama-prune prune <checkpoint> --method <name> --sparsity <s|N:M> [--calibration <text>]
                   [--nsamples n (128)] [--seqlen n (min(2048, model context))] [--seed n]
                   [--allocation uniform|owl]
                   [--pre <checkpoint>] [--sample-weights <file.json|.txt>] [--out <dir>] [--format dense|sparse-bitmask|sparse-24]
                   [--plugin <package>]... [--scorer <name>] [--tokenizer <file>] [--overwrite]
                   [--split: calibrate on the last 15 % of paragraphs only, which eval --split leaves out]
  mama-prune prune --recipe <file> [<checkpoint>] [--out <dir>] [flags above override the recipe]
  mama-prune eval <checkpoint> --text <file> --seqlen <n> [--windows n] [--tokenizer <file>] [--split]
  mama-prune sweep --recipe <file> [--out <dir>] [--seeds 0,1,2: one calibration draw per seed,
                   cells show mean ± sample std]

prune, eval and sweep take --backend auto|wasm|js (default auto: WebAssembly SIMD on all cores,
at most 8, when available, else plain JavaScript) and --threads <n> for the wasm backend.
Safetensors files are read strictly; --lenient (inspect, prune, eval, sweep; recipe key
lenient: true) accepts unused bytes and unknown entry fields with a warning for each.

Checkpoints: a llama2.c .bin, a .safetensors file or a Hugging Face folder. The tokenizer is
--tokenizer, else tokenizer.json / tokenizer.bin / tok*.bin next to the checkpoint.
Methods: ${PRUNE_METHODS.join(", ")}, or a plugin's method "scope/name" (--plugin / recipe plugins).
Sparsity: a fraction of weights set to zero in [0, 1) (0.5, 50%) or N:M (1 <= N < M zeros in every M, e.g. 2:4).

Global flags: --json (machine-readable stdout), --quiet (no progress), --debug (stack traces),
--help, --version.
Exit codes: 0 ok, 1 runtime failure, 2 usage or input error, 130 interrupted (Ctrl-C).
`;

const GLOBAL = {
  json: { type: "boolean" },
  quiet: { type: "boolean" },
  debug: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function parse<T extends Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>>(
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

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function intFlag(v: unknown, flag: string, min: number): number | undefined {
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
const BACKEND_FLAGS = {
  backend: { type: "string" },
  threads: { type: "string" },
} as const;

function backendFlags(v: Record<string, unknown>): { backend?: CpuBackendChoice; threads?: number } {
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
const PLUGIN_METHOD_RE = /^@?[a-z0-9]+(?:-[a-z0-9]+)*\/[a-z0-9]+(?:-[a-z0-9]+)*$/;

function methodFlag(v: unknown): string {
  const s = String(v);
  if (!(PRUNE_METHODS as readonly string[]).includes(s) && !PLUGIN_METHOD_RE.test(s)) {
    throw new PruneError(
      "SCORER_NOT_FOUND",
      `--method: unknown method. Expected one of ${PRUNE_METHODS.join(", ")} or a plugin method "scope/name", got ${JSON.stringify(s.slice(0, 40))}.`,
    );
  }
  return s;
}

function formatFlag(v: unknown): OutputFormat {
  const s = v === "sparse-24-bitmask" ? "sparse-24" : String(v);
  if (!(OUTPUT_FORMATS as readonly string[]).includes(s)) {
    throw new UsageError(
      `--format: expected one of ${OUTPUT_FORMATS.join(", ")}, got ${JSON.stringify(s.slice(0, 40))}`,
    );
  }
  return s as OutputFormat;
}

async function loadRecipeFile(path: string, cwd: string): Promise<{ recipe: Recipe; baseDir: string }> {
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

function jsonOut(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

function defaultOut(cwd: string, model: string, method: string, sparsity: PruneJob["sparsity"]): string {
  const stem = basename(model).replace(/\.(bin|safetensors)$/, "");
  return resolve(cwd, `${stem}-${method}-${levelLabel(sparsity).replace(":", "of")}`);
}

// ---- commands ----

async function cmdInspect(args: readonly string[], io: CliIo, flags: Flags): Promise<number> {
  const { values: v, positionals } = parse("inspect", args, { lenient: { type: "boolean" } }, 1);
  const path = positionals[0];
  if (path === undefined) throw new UsageError("inspect: missing <checkpoint>");
  const r = await runInspectAny(path, { io, quiet: flags.quiet, lenient: v["lenient"] === true });
  if (flags.json) jsonOut(io, r);
  else io.stdout(formatInspectAny(r));
  return EXIT_CODES.ok;
}

async function cmdPrune(args: readonly string[], io: CliIo, flags: Flags): Promise<number> {
  const { values: v, positionals } = parse(
    "prune",
    args,
    {
      recipe: { type: "string" },
      method: { type: "string" },
      sparsity: { type: "string" },
      calibration: { type: "string" },
      nsamples: { type: "string" },
      seqlen: { type: "string" },
      seed: { type: "string" },
      allocation: { type: "string" },
      pre: { type: "string" },
      "sample-weights": { type: "string" },
      out: { type: "string" },
      format: { type: "string" },
      plugin: { type: "string", multiple: true },
      scorer: { type: "string" },
      tokenizer: { type: "string" },
      overwrite: { type: "boolean" },
      split: { type: "boolean" },
      lenient: { type: "boolean" },
      ...BACKEND_FLAGS,
    },
    1,
  );
  const cwd = io.cwd;
  const recipeFile = str(v["recipe"]);
  const { recipe, baseDir } =
    recipeFile !== undefined ? await loadRecipeFile(recipeFile, cwd) : { recipe: {} as Recipe, baseDir: cwd };
  const fromRecipe = (p: string | undefined): string | undefined =>
    p === undefined ? undefined : resolve(baseDir, p);
  const fromFlag = (p: unknown): string | undefined => (typeof p === "string" ? resolve(cwd, p) : undefined);

  const model = fromFlag(positionals[0]) ?? fromRecipe(recipe.model);
  if (model === undefined) throw new UsageError("prune: missing <checkpoint> (or recipe.model)");
  let method: MethodSpec | undefined = recipe.method;
  // A flag overrides only what it names: the recipe's other method options stay (or conflict).
  if (v["method"] !== undefined) method = overrideMethodName(recipe.method, methodFlag(v["method"]));
  if (method === undefined) throw new UsageError("prune: missing --method <name> (or recipe.method)");
  const plugins: PluginSpec[] = [
    ...(recipe.plugins ?? []),
    ...((v["plugin"] as string[] | undefined) ?? []).map((p) => ({ package: p })),
  ];
  const scorer = str(v["scorer"]);
  if (scorer !== undefined) method = { ...method, scorer };
  const sparsity =
    v["sparsity"] !== undefined ? parseSparsity(String(v["sparsity"]), "--sparsity") : recipe.sparsity;
  if (sparsity === undefined) throw new UsageError("prune: missing --sparsity <s|N:M> (or recipe.sparsity)");
  const calText = fromFlag(v["calibration"]) ?? fromRecipe(recipe.calibration?.text);
  const allocationFlag = str(v["allocation"]);
  if (allocationFlag !== undefined && allocationFlag !== "uniform" && allocationFlag !== "owl") {
    throw new UsageError(
      `--allocation: expected uniform or owl, got ${JSON.stringify(allocationFlag.slice(0, 40))}`,
    );
  }
  const allocation: AllocationSpec | undefined =
    allocationFlag === "uniform" || allocationFlag === "owl" ? { kind: allocationFlag } : recipe.allocation;
  const out =
    fromFlag(v["out"]) ?? fromRecipe(recipe.output?.dir) ?? defaultOut(cwd, model, method.name, sparsity);
  const pre = fromFlag(v["pre"]) ?? fromRecipe(recipe.pre);
  const sampleWeights = fromFlag(v["sample-weights"]) ?? fromRecipe(recipe.sampleWeights);
  const tokenizer = fromFlag(v["tokenizer"]) ?? fromRecipe(recipe.tokenizer);
  // Left out: the anchors' protocol (128 × min(2048, context)), resolved once the model is open.
  const nsamples = intFlag(v["nsamples"], "--nsamples", 1) ?? recipe.calibration?.nsamples;
  const seqlen = intFlag(v["seqlen"], "--seqlen", 2) ?? recipe.calibration?.seqlen;
  const job: PruneJob = {
    model,
    method,
    sparsity,
    out,
    format: v["format"] !== undefined ? formatFlag(v["format"]) : (recipe.output?.format ?? "dense"),
    overwrite: v["overwrite"] === true || recipe.output?.overwrite === true,
    plugins,
    pluginBase: recipeFile !== undefined && v["plugin"] === undefined ? baseDir : cwd,
    ...(recipeFile !== undefined ? { recipe: { path: resolve(cwd, recipeFile), content: recipe } } : {}),
    ...(tokenizer !== undefined ? { tokenizer } : {}),
    ...(pre !== undefined ? { pre } : {}),
    ...(sampleWeights !== undefined ? { sampleWeights } : {}),
    ...(allocation !== undefined ? { allocation } : {}),
    ...(calText !== undefined
      ? {
          calibration: {
            text: calText,
            ...(nsamples !== undefined ? { nsamples } : {}),
            ...(seqlen !== undefined ? { seqlen } : {}),
            seed: intFlag(v["seed"], "--seed", 0) ?? recipe.calibration?.seed ?? RECIPE_DEFAULTS.seed,
            ...(v["split"] === true ? { split: recipe.calibration?.split ?? RECIPE_DEFAULTS.split } : {}),
          },
        }
      : {}),
  };
  // A lone --plugin without --scorer: use that plugin's scorer for a method the plugins do not define.
  if (job.method.scorer === undefined && v["plugin"] !== undefined && plugins.length > 0) {
    const { loadPlugins } = await import("./plugins.ts");
    const { fromPlugins } = await loadPlugins(plugins, job.pluginBase);
    const last = fromPlugins.scorers.at(-1);
    const ownMethod = fromPlugins.methods.some((m) => m.name === job.method.name);
    if (last !== undefined && !ownMethod) {
      (job as { method: MethodSpec }).method = { ...job.method, scorer: last.name };
    }
  }
  const lenient = v["lenient"] === true || recipe.lenient === true;
  const r = await runPrune(job, { io, quiet: flags.quiet, lenient, ...backendFlags(v) });
  if (flags.json) {
    jsonOut(io, {
      out: r.out,
      files: r.files,
      report: r.report,
      ...(r.calibrationSize !== undefined ? { calibrationSize: r.calibrationSize } : {}),
    });
  } else io.stdout(formatPrune(r));
  return EXIT_CODES.ok;
}

async function cmdEval(args: readonly string[], io: CliIo, flags: Flags): Promise<number> {
  const { values: v, positionals } = parse(
    "eval",
    args,
    {
      text: { type: "string" },
      seqlen: { type: "string" },
      windows: { type: "string" },
      tokenizer: { type: "string" },
      split: { type: "boolean" },
      lenient: { type: "boolean" },
      ...BACKEND_FLAGS,
    },
    1,
  );
  const model = positionals[0];
  if (model === undefined) throw new UsageError("eval: missing <checkpoint>");
  const text = str(v["text"]);
  if (text === undefined) throw new UsageError("eval: missing --text <file>");
  const seqlen = intFlag(v["seqlen"], "--seqlen", 2);
  if (seqlen === undefined)
    throw new UsageError("eval: missing --seqlen <n> (it is never guessed from the model)");
  const windows = intFlag(v["windows"], "--windows", 1);
  const tokenizer = str(v["tokenizer"]);
  const r = await runEval(
    {
      model: resolve(io.cwd, model),
      text: resolve(io.cwd, text),
      seqlen,
      ...(windows !== undefined ? { windows } : {}),
      ...(tokenizer !== undefined ? { tokenizer: resolve(io.cwd, tokenizer) } : {}),
      ...(v["split"] === true ? { split: RECIPE_DEFAULTS.split } : {}),
    },
    { io, quiet: flags.quiet, lenient: v["lenient"] === true, ...backendFlags(v) },
  );
  if (flags.json) jsonOut(io, r);
  else io.stdout(`ppl ${r.ppl.toFixed(4)}\n${r.protocol}\n`);
  return EXIT_CODES.ok;
}

async function cmdSweep(args: readonly string[], io: CliIo, flags: Flags): Promise<number> {
  const { values: v } = parse(
    "sweep",
    args,
    {
      recipe: { type: "string" },
      out: { type: "string" },
      seeds: { type: "string" },
      lenient: { type: "boolean" },
      ...BACKEND_FLAGS,
    },
    0,
  );
  const recipeFile = str(v["recipe"]);
  if (recipeFile === undefined) throw new UsageError("sweep: missing --recipe <file>");
  const loaded = await loadRecipeFile(recipeFile, io.cwd);
  const { baseDir } = loaded;
  let recipe = loaded.recipe;
  const seedsFlag = str(v["seeds"]);
  if (seedsFlag !== undefined) {
    if (recipe.calibration === undefined) {
      throw new UsageError(
        `sweep --seeds: ${recipeFile} has no calibration section. Expected a recipe with calibration (text, nsamples, seqlen), got none.`,
      );
    }
    const seeds = parseSeeds(seedsFlag, "--seeds");
    recipe = { ...recipe, calibration: { ...recipe.calibration, seed: seeds[0]!, seeds } };
  }
  const out = str(v["out"]);
  const r = await runSweep(recipe, {
    io,
    quiet: flags.quiet,
    lenient: v["lenient"] === true || recipe.lenient === true,
    ...backendFlags(v),
    baseDir,
    ...(out !== undefined ? { outDir: out } : {}),
  });
  if (flags.json) {
    jsonOut(io, {
      table: r.table,
      dense: r.dense,
      runs: r.runs,
      files: r.files,
      wallTimeMs: Math.round(r.wallTimeMs),
    });
  } else {
    io.stdout(r.markdown);
    io.stdout(`\nwrote ${r.files.join(", ")}\n`);
  }
  return EXIT_CODES.ok;
}

interface Flags {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly debug: boolean;
}

const COMMANDS: Readonly<
  Record<string, (args: readonly string[], io: CliIo, flags: Flags) => Promise<number>>
> = {
  inspect: cmdInspect,
  prune: cmdPrune,
  eval: cmdEval,
  sweep: cmdSweep,
};

/**
 * Run `mama-prune` with `argv` (without the node and script paths) against injected streams.
 * Never throws: errors become one line on stderr (`mama-prune: CODE: message`; the stack only
 * with `--debug`) and an exit code — 0 ok, 1 runtime failure, 2 usage or input error, 130
 * interrupted. With `--json` a failure also prints `{ "error": { code, message } }` on stdout.
 *
 * @example
 * const code = await main(["inspect", "model.bin", "--json"], {
 *   stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), cwd: process.cwd(),
 * });
 */
export async function main(argv: readonly string[], rawIo: CliIo): Promise<number> {
  // Nothing taken from a file reaches the terminal raw (control characters escaped, lines bounded).
  const io = safeIo(rawIo);
  const flags: Flags = {
    json: argv.includes("--json"),
    quiet: argv.includes("--quiet"),
    debug: argv.includes("--debug"),
  };
  try {
    const [command, ...rest] = argv;
    if (command === "--version" || command === "-v") {
      io.stdout(`${CLI_VERSION}\n`);
      return EXIT_CODES.ok;
    }
    if (command === undefined || command === "--help" || command === "-h" || command === "help") {
      io.stdout(HELP);
      return command === undefined ? EXIT_CODES.usage : EXIT_CODES.ok;
    }
    const run = COMMANDS[command];
    if (run === undefined) {
      throw new UsageError(
        `unknown command ${JSON.stringify(command.slice(0, 40))}. Expected one of ${Object.keys(COMMANDS).join(", ")}`,
      );
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      io.stdout(HELP);
      return EXIT_CODES.ok;
    }
    return await run(rest, io, flags);
  } catch (e) {
    const code = exitCodeOf(e);
    io.stderr(
      `${code === EXIT_CODES.interrupted ? "mama-prune: interrupted; no partial output was left." : errorLine(e)}\n`,
    );
    if (flags.debug && e instanceof Error && e.stack !== undefined) io.stderr(`${e.stack}\n`);
    if (flags.json) {
      const c = (e as { code?: unknown }).code;
      jsonOut(io, {
        error: {
          code: typeof c === "string" ? c : e instanceof UsageError ? "USAGE" : "INTERNAL",
          message: e instanceof Error ? e.message : String(e),
          exitCode: code,
        },
      });
    }
    return code;
  }
}
