// ---- `mama-prune eval`: arguments → runEval → perplexity and protocol line ----

import { resolve } from "node:path";
import { runEval } from "../commands/eval.ts";
import { EXIT_CODES, UsageError } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { RECIPE_DEFAULTS } from "../recipe.ts";
import { BACKEND_FLAGS, backendFlags, type Flags, intFlag, jsonOut, parse, str } from "./args.ts";

export async function cmdEval(args: readonly string[], io: CliIo, flags: Flags): Promise<number> {
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
