// ---- `mama-prune inspect`: arguments → runInspectAny → text or JSON ----

import { EXIT_CODES, UsageError } from "../exit-codes.ts";
import { formatInspectAny, runInspectAny } from "../inspect-any.ts";
import type { CliIo } from "../io.ts";
import { type Flags, jsonOut, parse } from "./args.ts";

export async function cmdInspect(args: readonly string[], io: CliIo, flags: Flags): Promise<number> {
  const { values: v, positionals } = parse("inspect", args, { lenient: { type: "boolean" } }, 1);
  const path = positionals[0];
  if (path === undefined) throw new UsageError("inspect: missing <checkpoint>");
  const r = await runInspectAny(path, { io, quiet: flags.quiet, lenient: v["lenient"] === true });
  if (flags.json) jsonOut(io, r);
  else io.stdout(formatInspectAny(r));
  return EXIT_CODES.ok;
}
