// The main job on the bundled model (`npm run demo` at the repository root): load the real pretrained
// stories260K checkpoint, show its tensor inventory and a greedy story, then prune it with MAMA at 50 %
// and compare against the dense model, Wanda, SparseGPT and magnitude — through the same recipe
// engine as `mama-prune sweep` — and print the paper-format table and where the plot was written.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type CliIo, type Recipe, runSweep } from "@mama-prune/cli";
import { type CpuBackendChoice, createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import type { ComputeBackend } from "@mama-prune/core";
import { reportMarkdown } from "@mama-prune/eval";
import { createCpuBackend, createLlama2cTokenizer, generate, loadLlama } from "@mama-prune/model";
import { isBlockLinear, readLlama2c, readLlama2cTokenizer } from "@mama-prune/tensor-io";

const dataDir = fileURLToPath(new URL("../../../data/", import.meta.url));
const resultsDir = fileURLToPath(new URL("../results/", import.meta.url));

export interface DemoOptions {
  /** Evaluation windows (each `seqlen` tokens) of the TinyStories evaluation split. */
  readonly maxWindows: number;
  readonly seqlen: number;
  readonly maxNewTokens: number;
  readonly log: (line: string) => void;
  /** Calibration windows × tokens (default 16 × 256). */
  readonly nsamples?: number;
  readonly calibrationSeqlen?: number;
  /** Where the table and plot go (default examples/demo/results). */
  readonly outDir?: string;
  /** Progress bars and per-run lines (default: nothing). */
  readonly progress?: Pick<CliIo, "stderr" | "isTTY" | "columns">;
  /**
   * Compute backend: "auto" (default: WebAssembly SIMD on all cores when available, else plain
   * JavaScript), "wasm" or "js" (the reference).
   */
  readonly backend?: CpuBackendChoice;
  /** Threads of the wasm backend (default: all cores, at most 8). */
  readonly threads?: number;
}

export interface DemoResult {
  /** Dense perplexity on the evaluation split. */
  readonly ppl: number;
  readonly sample: string;
  readonly parameters: number;
  /** Perplexity at 50 % per method, in column order. */
  readonly methods: readonly string[];
  readonly pruned: readonly number[];
  /** Markdown, CSV, JSON and SVG files written. */
  readonly files: readonly string[];
  /** Name of the compute backend that ran everything ("wasm-simd x2", "js"). */
  readonly backend: string;
}

/** The demo's recipe: the same keys a `mama-prune sweep` recipe file has. */
export function demoRecipe(
  o: Pick<DemoOptions, "maxWindows" | "seqlen" | "nsamples" | "calibrationSeqlen">,
): Recipe {
  return {
    model: `${dataDir}stories260K/stories260K.bin`,
    calibration: {
      text: `${dataDir}tinystories/tinystories_val.txt`,
      nsamples: o.nsamples ?? 16,
      seqlen: o.calibrationSeqlen ?? 256,
      seed: 0,
      split: 0.15,
    },
    methods: [{ name: "mama" }, { name: "wanda" }, { name: "sparsegpt" }, { name: "magnitude" }],
    levels: [0.5],
    eval: { seqlen: o.seqlen, windows: o.maxWindows },
    output: {
      format: "dense",
      overwrite: false,
      name: "demo",
      title: "stories260K pruned to 50 % (perplexity)",
    },
  };
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  // One backend for generation, every prune and every evaluation; disposed at the end so that its
  // worker threads never outlive the demo.
  const backend = await createDefaultCpuBackend({
    fallback: createCpuBackend,
    prefer: options.backend ?? "auto",
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
  });
  try {
    return await demoWith(options, backend);
  } finally {
    await backend.dispose();
  }
}

async function demoWith(options: DemoOptions, backend: ComputeBackend): Promise<DemoResult> {
  const { log } = options;
  const modelBytes = new Uint8Array(await readFile(`${dataDir}stories260K/stories260K.bin`));
  const checkpoint = await readLlama2c(modelBytes);
  const tokenizer = createLlama2cTokenizer(
    readLlama2cTokenizer(new Uint8Array(await readFile(`${dataDir}stories260K/tok512.bin`)), 512),
  );

  log("== stories260K (llama2.c checkpoint, exposed under Hugging Face Llama names)");
  let parameters = 0;
  let prunable = 0;
  for (const t of checkpoint.list()) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    parameters += n;
    if (isBlockLinear(t.name, t.shape)) prunable += n;
  }
  log(
    `  ${checkpoint.list().length} tensors, ${parameters.toLocaleString("en")} parameters, ${prunable.toLocaleString("en")} in the prunable block linears`,
  );

  log(`  compute backend: ${backend.name}`);

  const model = await loadLlama(checkpoint, { backend });
  const { text: sample } = await generate(model, tokenizer, "Once upon a time", {
    maxNewTokens: options.maxNewTokens,
  });
  log("\n== greedy sample of the dense model");
  log(`  ${sample.replaceAll("\n", "\n  ")}`);

  log("\n== pruning 50 % of every block linear: MAMA vs Wanda, SparseGPT and magnitude");
  const p = options.progress;
  const r = await runSweep(demoRecipe(options), {
    io: {
      stdout: () => {},
      stderr: p?.stderr ?? (() => {}),
      cwd: process.cwd(),
      ...(p?.isTTY !== undefined ? { isTTY: p.isTTY } : {}),
      ...(p?.columns !== undefined ? { columns: p.columns } : {}),
    },
    quiet: p === undefined,
    backend,
    baseDir: dataDir,
    outDir: options.outDir ?? resultsDir,
  });
  log("");
  log(reportMarkdown(r.table).trimEnd());
  log("");
  log(`plot:   ${r.files.find((f) => f.endsWith(".svg"))}`);
  log(`tables: ${r.files.filter((f) => !f.endsWith(".svg")).join(", ")}`);
  log(`(${(r.wallTimeMs / 1000).toFixed(0)} s for the dense evaluation and four prune + evaluate runs)`);
  return {
    ppl: r.dense,
    sample,
    parameters,
    methods: r.table.columns,
    pruned: r.table.values[1] ?? [],
    files: r.files,
    backend: backend.name,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (flag: string): string | undefined => {
    const i = process.argv.indexOf(flag);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const backend = arg("--backend");
  if (backend !== undefined && backend !== "auto" && backend !== "wasm" && backend !== "js") {
    throw new RangeError(`demo --backend: expected auto, wasm or js, got ${JSON.stringify(backend)}`);
  }
  const threads = arg("--threads");
  await runDemo({
    ...(backend !== undefined ? { backend } : {}),
    ...(threads !== undefined ? { threads: Number(threads) } : {}),
    maxWindows: 16,
    seqlen: 256,
    maxNewTokens: 60,
    log: (l) => console.log(l),
    progress: {
      stderr: (s) => process.stderr.write(s),
      isTTY: process.stderr.isTTY === true,
      columns: process.stderr.columns ?? 80,
    },
  });
}
