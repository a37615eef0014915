// ---- Commands as data: one declarative flag table per command feeds both parseArgs and `--help`,
// so the help text cannot drift from what the parser accepts. ----

import type { ParseArgsConfig } from "node:util";
import type { CliIo } from "../io.ts";

/** The global flags, read before dispatch. */
export interface Flags {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly debug: boolean;
}

/** One flag of a command: how it parses and how `--help` describes it. */
export interface FlagSpec {
  readonly type: "string" | "boolean";
  /** May be given several times (values collected in order). */
  readonly multiple?: boolean;
  /** One-letter alias (`-h`). */
  readonly short?: string;
  /** Placeholder of the value in help (`<file>`, `auto|wasm|js`); string flags only. */
  readonly value?: string;
  /** One line: what the flag does. */
  readonly description: string;
  /** What applies when the flag is left out, as shown in help (`128`, `false`, `none`). */
  readonly default: string;
}

/** The flags of a command, by long name. */
export type FlagTable = Readonly<Record<string, FlagSpec>>;

/** Parsed flag values (strings, booleans, or lists for `multiple` flags) and positional arguments. */
export interface ParsedArgs {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}

/**
 * A `mama-prune` command: its flag table, help text and what it runs. Adding a command is one file
 * exporting a `CommandSpec` and one line in main.ts's command table.
 */
export interface CommandSpec {
  readonly name: string;
  /** One line for the command list of `mama-prune --help`. */
  readonly summary: string;
  /** Usage lines, without the leading `mama-prune `. */
  readonly usage: readonly string[];
  /** Positional arguments with one-line descriptions (help), at most this many are accepted. */
  readonly positionals: readonly { readonly name: string; readonly description: string }[];
  readonly flags: FlagTable;
  /** Extra paragraphs printed after the flags. */
  readonly notes?: readonly string[];
  /** Example command lines, without the leading `mama-prune `. */
  readonly examples: readonly string[];
  /** Run the command with its parsed arguments; returns the exit code. */
  readonly run: (args: ParsedArgs, io: CliIo, flags: Flags) => Promise<number>;
}

/** Flags every command takes (read before dispatch). */
export const GLOBAL_FLAGS: FlagTable = {
  json: { type: "boolean", description: "print one JSON object on stdout instead of text", default: "false" },
  quiet: { type: "boolean", description: "no progress on stderr", default: "false" },
  debug: { type: "boolean", description: "print stack traces of errors", default: "false" },
  help: { type: "boolean", short: "h", description: "print this help and exit", default: "false" },
};

/** What `parseArgs` gets for a command: its flags plus the global ones, exactly as the tables say. */
export function parseOptions(spec: CommandSpec): NonNullable<ParseArgsConfig["options"]> {
  const out: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, f] of Object.entries({ ...GLOBAL_FLAGS, ...spec.flags })) {
    out[name] = {
      type: f.type,
      ...(f.multiple === true ? { multiple: true } : {}),
      ...(f.short !== undefined ? { short: f.short } : {}),
    };
  }
  return out;
}

function flagColumn(name: string, f: FlagSpec): string {
  const short = f.short !== undefined ? `-${f.short}, ` : "";
  const value = f.type === "string" ? ` ${f.value ?? "<value>"}` : "";
  return `${short}--${name}${value}${f.multiple === true ? " ..." : ""}`;
}

function flagLines(table: FlagTable): string[] {
  const entries = Object.entries(table);
  const width = Math.min(26, Math.max(...entries.map(([n, f]) => flagColumn(n, f).length)));
  return entries.map(
    ([n, f]) => `  ${flagColumn(n, f).padEnd(width)}  ${f.description} (default: ${f.default})`,
  );
}

/**
 * `mama-prune <command> --help`: usage, positionals, every flag with a one-line description and
 * its default, notes and examples.
 *
 * @example
 * io.stdout(formatCommandHelp(PRUNE_COMMAND));
 */
export function formatCommandHelp(spec: CommandSpec): string {
  const lines = [
    `mama-prune ${spec.name} — ${spec.summary}`,
    "",
    "Usage:",
    ...spec.usage.map((u) => `  mama-prune ${u}`),
  ];
  if (spec.positionals.length > 0) {
    lines.push("", "Arguments:");
    const w = Math.max(...spec.positionals.map((p) => p.name.length));
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(w)}  ${p.description}`);
  }
  lines.push("", "Flags:", ...flagLines(spec.flags));
  lines.push("", "Global flags:", ...flagLines(GLOBAL_FLAGS));
  for (const note of spec.notes ?? []) lines.push("", note);
  lines.push("", spec.examples.length === 1 ? "Example:" : "Examples:");
  for (const e of spec.examples) lines.push(`  mama-prune ${e}`);
  return `${lines.join("\n")}\n`;
}
