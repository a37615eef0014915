// ---- `mama-prune <command>`: dispatch through the command table, output and exit codes ----

import { PRUNE_METHODS } from "@mama-prune/pipeline";
import type { CommandRunner, Flags } from "./cli/args.ts";
import { jsonOut } from "./cli/args.ts";
import { cmdEval } from "./cli/eval.ts";
import { cmdInspect } from "./cli/inspect.ts";
import { cmdPrune } from "./cli/prune.ts";
import { cmdSweep } from "./cli/sweep.ts";
import { EXIT_CODES, errorLine, exitCodeOf, UsageError } from "./exit-codes.ts";
import type { CliIo } from "./io.ts";
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
                   [--pre <checkpoint>] [--out <dir>] [--format dense|sparse-bitmask|sparse-24]
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

const COMMANDS: Readonly<Record<string, CommandRunner>> = {
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
