// ---- `mama-prune inspect`: arguments → runInspectAny → text or JSON ----

import { EXIT_CODES, UsageError } from "../exit-codes.ts";
import { formatInspectAny, runInspectAny } from "../inspect-any.ts";
import type { CliIo } from "../io.ts";
import { jsonOut, LENIENT_FLAG } from "./args.ts";
import type { CommandSpec, Flags, ParsedArgs } from "./spec.ts";

async function inspect({ values: v, positionals }: ParsedArgs, io: CliIo, flags: Flags): Promise<number> {
  const path = positionals[0];
  if (path === undefined) throw new UsageError("inspect: missing <checkpoint>");
  const r = await runInspectAny(path, { io, quiet: flags.quiet, lenient: v["lenient"] === true });
  if (flags.json) jsonOut(io, r);
  else io.stdout(formatInspectAny(r));
  return EXIT_CODES.ok;
}

/** `mama-prune inspect`. */
export const INSPECT_COMMAND: CommandSpec = {
  name: "inspect",
  summary: "architecture, tensors, parameter counts and per-block sparsity of a checkpoint",
  usage: ["inspect <checkpoint | any .safetensors file> [--json] [--lenient]"],
  positionals: [
    {
      name: "<checkpoint>",
      description:
        "a llama2.c .bin, a .safetensors file or a Hugging Face folder; any other safetensors file gets a tensor listing",
    },
  ],
  flags: { ...LENIENT_FLAG },
  examples: ["inspect data/stories260K/stories260K.bin", "inspect pruned-model --json"],
  run: inspect,
};
