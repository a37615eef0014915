// `npm run synth -- --shape <name> [--layers N] [--dtype bf16|f16|f32] [--shards K] [--seed S] --out <dir>`

import { parseArgs } from "node:util";
import { isPruneError } from "@mama-prune/core";
import { SHAPE_NAMES, type SynthOptions, synthesize } from "./synth.ts";

const HELP = `npm run synth -- --shape <${SHAPE_NAMES.join("|")}> --out <dir>
                 [--layers N] [--dtype bf16|f16|f32] [--shards K] [--seed S]

Writes a seeded random-weight Hugging Face folder (safetensors, config.json of the real model, a
minimal byte-level tokenizer.json) to <dir>, which must not exist or be empty. --layers keeps the
first N decoder blocks; --shards K splits the weights into K files with model.safetensors.index.json.
Weights are N(0, 0.02²), RMSNorm weights 1. --vocab V (development/tests only) shrinks vocab_size.`;

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) {
    throw new RangeError(`--${flag}: expected a non-negative integer, got "${v}"`);
  }
  return n;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      shape: { type: "string" },
      out: { type: "string" },
      layers: { type: "string" },
      dtype: { type: "string", default: "bf16" },
      shards: { type: "string" },
      seed: { type: "string" },
      vocab: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.shape === undefined || values.out === undefined) {
    console.error(`synth: --shape and --out are required.\n\n${HELP}`);
    return 2;
  }
  const dtype = values.dtype.toUpperCase();
  if (dtype !== "BF16" && dtype !== "F16" && dtype !== "F32") {
    console.error(`synth: --dtype: expected bf16, f16 or f32, got "${values.dtype}"`);
    return 2;
  }
  const layers = int("layers", values.layers);
  const shards = int("shards", values.shards);
  const seed = int("seed", values.seed);
  const vocab = int("vocab", values.vocab);
  const options: SynthOptions = {
    shape: values.shape as SynthOptions["shape"],
    out: values.out,
    dtype,
    ...(layers !== undefined ? { layers } : {}),
    ...(shards !== undefined ? { shards } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(vocab !== undefined ? { vocab } : {}),
  };
  const t0 = performance.now();
  const r = await synthesize(options);
  const s = (performance.now() - t0) / 1000;
  console.log(
    `${values.out}: ${values.shape}, ${r.config["num_hidden_layers"]} layers, ${dtype}, ${r.numTensors} tensors, ` +
      `${(r.totalSizeBytes / 2 ** 30).toFixed(3)} GiB in ${r.files.length} files (${r.files.join(", ")}), ${s.toFixed(1)} s`,
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (
      isPruneError(e) ||
      e instanceof RangeError ||
      (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      console.error(`synth: ${(e as Error).message}`);
      process.exit(2);
    }
    console.error(e);
    process.exit(1);
  },
);
