// ---- `mama-prune <command>`: dispatch through the command table, output and exit codes ----

import { PRUNE_METHODS } from "@mama-prune/pipeline";
import { jsonOut, parse } from "./cli/args.ts";
import { DISTILL_COMMAND } from "./cli/distill.ts";
import { EVAL_COMMAND } from "./cli/eval.ts";
import { GRPO_COMMAND } from "./cli/grpo.ts";
import { INSPECT_COMMAND } from "./cli/inspect.ts";
import { PRUNE_COMMAND } from "./cli/prune.ts";
import { type CommandSpec, type Flags, formatCommandHelp } from "./cli/spec.ts";
import { SWEEP_COMMAND } from "./cli/sweep.ts";
import { EXIT_CODES, errorLine, exitCodeOf, UsageError } from "./exit-codes.ts";
import type { CliIo } from "./io.ts";
import { safeIo } from "./safe-output.ts";
import { CLI_VERSION } from "./version.ts";

export { CLI_VERSION } from "./version.ts";

/**
 * The commands of `mama-prune`, in help order. A new command is one file exporting a
 * {@link CommandSpec} (flag table, help, run) and one line here.
 */
export const COMMANDS: readonly CommandSpec[] = [
  INSPECT_COMMAND,
  PRUNE_COMMAND,
  EVAL_COMMAND,
  SWEEP_COMMAND,
  DISTILL_COMMAND,
  GRPO_COMMAND,
];

function globalHelp(commands: readonly CommandSpec[]): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return `mama-prune — prune Llama-family checkpoints and measure what it costs

Commands:
${commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join("\n")}

Usage:
${commands.flatMap((c) => c.usage.map((u) => `  mama-prune ${u}`)).join("\n")}

Run \`mama-prune <command> --help\` for every flag of a command with its default and an example.

prune, eval, sweep, distill and grpo take --backend auto|wasm|js (default auto: WebAssembly SIMD on all cores,
at most 8, when available, else plain JavaScript) and --threads <n> for the wasm backend.
Safetensors files are read strictly; --lenient (every command; recipe key
lenient: true) accepts unused bytes and unknown entry fields with a warning for each.

Checkpoints: a llama2.c .bin, a .safetensors file or a Hugging Face folder. The tokenizer is
--tokenizer, else tokenizer.json / tokenizer.bin / tok*.bin next to the checkpoint.
Methods: ${PRUNE_METHODS.join(", ")}, or a plugin's method "scope/name" (--plugin / recipe plugins).
Sparsity: a fraction of weights set to zero in [0, 1) (0.5, 50%) or N:M (1 <= N < M zeros in every M, e.g. 2:4).

Global flags: --json (machine-readable stdout), --quiet (no progress), --debug (stack traces),
--help, --version.
Exit codes: 0 ok, 1 runtime failure, 2 usage or input error, 130 interrupted (Ctrl-C).
`;
}

/** `mama-prune --help`: the commands, their usage lines and what all of them share. */
export const HELP: string = globalHelp(COMMANDS);

/**
 * `mama-prune <command> --help` for every command, by name.
 *
 * @example
 * io.stdout(COMMAND_HELP["prune"]!);
 */
export const COMMAND_HELP: Readonly<Record<string, string>> = Object.fromEntries(
  COMMANDS.map((c) => [c.name, formatCommandHelp(c)]),
);

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
    const spec = COMMANDS.find((c) => c.name === command);
    if (spec === undefined) {
      throw new UsageError(
        `unknown command ${JSON.stringify(command.slice(0, 40))}. Expected one of ${COMMANDS.map((c) => c.name).join(", ")}`,
      );
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      io.stdout(formatCommandHelp(spec));
      return EXIT_CODES.ok;
    }
    return await spec.run(parse(spec, rest), io, flags);
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
