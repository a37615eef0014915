// ---- `mama-prune eval`: arguments → runEval → perplexity and protocol line ----

import { resolve } from "node:path";
import { runEval } from "../commands/eval.ts";
import { EXIT_CODES, UsageError } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";
import { RECIPE_DEFAULTS } from "../recipe.ts";
import { BACKEND_FLAGS, backendFlags, intFlag, jsonOut, LENIENT_FLAG, str, TOKENIZER_FLAG } from "./args.ts";
import type { CommandSpec, Flags, ParsedArgs } from "./spec.ts";

async function evaluate({ values: v, positionals }: ParsedArgs, io: CliIo, flags: Flags): Promise<number> {
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

/** `mama-prune eval`. */
export const EVAL_COMMAND: CommandSpec = {
  name: "eval",
  summary: "perplexity of a checkpoint on a text, with its full protocol line",
  usage: ["eval <checkpoint> --text <file> --seqlen <n> [--windows n] [--tokenizer <file>] [--split]"],
  positionals: [
    { name: "<checkpoint>", description: "a llama2.c .bin, a .safetensors file or a Hugging Face folder" },
  ],
  flags: {
    text: { type: "string", value: "<file>", description: "UTF-8 evaluation text", default: "required" },
    seqlen: {
      type: "string",
      value: "<n>",
      description: "tokens per evaluation window, never guessed from the model",
      default: "required",
    },
    windows: {
      type: "string",
      value: "<n>",
      description: "evaluate only the first n windows",
      default: "all windows of the text",
    },
    ...TOKENIZER_FLAG,
    split: {
      type: "boolean",
      description: `evaluate only the evaluation split (the first ${100 - 100 * RECIPE_DEFAULTS.split} % of paragraphs), which prune --split never calibrates on`,
      default: "false (the whole text)",
    },
    ...LENIENT_FLAG,
    ...BACKEND_FLAGS,
  },
  examples: [
    "eval data/stories260K/stories260K.bin --text data/tinystories/tinystories_val.txt --seqlen 256",
  ],
  run: evaluate,
};
