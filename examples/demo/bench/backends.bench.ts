// End-to-end benchmark of the compute backends in ONE run: the plain-JS reference
// (@mama-prune/model createCpuBackend), the WebAssembly SIMD backend on one thread and on all
// threads (@mama-prune/compute-wasm). Forward-pass tokens/s on the bundled stories260K model
// (seqlen 256) and on a synthetic Llama of realistic shape (hidden 1024, 8 layers, MLP 2816, vocab
// 32000, seqlen 512, one window), and pruning wall time of Wanda and SparseGPT on the bundled model.
// Writes bench-results/backends.json and backends.md.   npm run bench -w @mama-prune-examples/demo
// (--quick: fewer runs, no synthetic model). --prune-synthetic instead times Wanda and SparseGPT on
// the synthetic model (2 × 512 calibration tokens, one run per backend) and writes
// bench-results/prune-synthetic.json and .md.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism, loadavg } from "node:os";
import { createWasmBackendNode, DEFAULT_MAX_THREADS } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, createRng } from "@mama-prune/core";
import { createCpuBackend, createLlama2cTokenizer, type LlamaModel, loadLlama } from "@mama-prune/model";
import { calibrationWindows, prune } from "@mama-prune/pipeline";
import { type Checkpoint, readLlama2c, readLlama2cTokenizer, type TensorInfo } from "@mama-prune/tensor-io";

const root = new URL("../../../", import.meta.url);
const outDir = new URL("../bench-results/", import.meta.url);
const quick = process.argv.includes("--quick");

interface Named {
  readonly label: string;
  readonly backend: ComputeBackend;
}

const threadsAll = Math.min(availableParallelism(), DEFAULT_MAX_THREADS);
const backends: Named[] = [
  { label: "js", backend: createCpuBackend() },
  { label: "wasm x1", backend: await createWasmBackendNode({ threads: 1 }) },
  { label: `wasm x${threadsAll}`, backend: await createWasmBackendNode({ threads: threadsAll }) },
];

const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

/** A checkpoint whose tensors are generated on demand from a seed (no stored copy). */
function syntheticLlama(): Checkpoint {
  const [H, I, L, V, heads] = [1024, 2816, 8, 32000, 16];
  const shapes = new Map<string, number[]>([["model.embed_tokens.weight", [V, H]]]);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    shapes.set(`${p}.input_layernorm.weight`, [H]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [H]);
    for (const n of ["q", "k", "v", "o"]) shapes.set(`${p}.self_attn.${n}_proj.weight`, [H, H]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [I, H]);
    shapes.set(`${p}.mlp.up_proj.weight`, [I, H]);
    shapes.set(`${p}.mlp.down_proj.weight`, [H, I]);
  }
  shapes.set("model.norm.weight", [H]);
  shapes.set("lm_head.weight", [V, H]);
  const infos: TensorInfo[] = [...shapes].map(([name, shape]) => ({
    name,
    dtype: "F32",
    shape,
    byteLength: 4 * shape.reduce((a, b) => a * b, 1),
  }));
  const byName = new Map(infos.map((i) => [i.name, i]));
  const gen = (name: string): Float32Array => {
    const info = byName.get(name)!;
    const rng = createRng(infos.indexOf(info) + 1);
    const isNorm = info.shape.length === 1;
    const std = isNorm ? 0.05 : 1 / Math.sqrt(info.shape[1]!);
    const data = new Float32Array(info.byteLength / 4); // (numel,)
    for (let i = 0; i < data.length; i++)
      data[i] = (isNorm ? 1 : 0) + std * (rng.next() * 2 - 1) * Math.sqrt(3);
    return data;
  };
  return {
    source: "<synthetic>",
    format: "safetensors",
    config: {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: H,
      intermediate_size: I,
      num_hidden_layers: L,
      num_attention_heads: heads,
      num_key_value_heads: heads,
      vocab_size: V,
      max_position_embeddings: 2048,
      rms_norm_eps: 1e-5,
      tie_word_embeddings: false,
    },
    list: () => infos,
    has: (n) => byName.has(n),
    info: (n) => byName.get(n)!,
    readRaw: async (n) => new Uint8Array(gen(n).buffer),
    readF32: async (n) => gen(n),
    close: async () => {},
  };
}

interface ForwardRow {
  model: string;
  backend: string;
  seqLen: number;
  windows: number;
  runs: number;
  tokensPerSec: number;
  tokensPerCpuSec: number;
  cpusObtained: number;
  meanNll: number;
  speedupVsJs?: number;
}

/** Forward (NLL) of every window `runs` times with each backend in turn (alternated per run). */
async function forward(
  label: string,
  models: LlamaModel[],
  windows: Int32Array[],
  seqLen: number,
  runs: number[],
): Promise<ForwardRow[]> {
  const walls: number[][] = models.map(() => []);
  const cpus: number[][] = models.map(() => []);
  const nlls: number[] = models.map(() => 0);
  const maxRuns = Math.max(...runs);
  for (let r = 0; r < maxRuns; r++) {
    for (const [b, model] of models.entries()) {
      if (r >= (runs[b] ?? 0)) continue;
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      let sum = 0;
      let count = 0;
      for (const w of windows) {
        const nll = await model.nll(w);
        for (const v of nll) sum += v;
        count += nll.length;
      }
      cpus[b]!.push(cpuMs(process.cpuUsage(c0)));
      walls[b]!.push(performance.now() - t0);
      nlls[b] = sum / count;
      console.log(`${label} ${backends[b]!.label} run ${r}: ${(walls[b]!.at(-1)! / 1000).toFixed(2)} s`);
    }
  }
  const tokens = windows.length * seqLen;
  const rows = models.map((_, b): ForwardRow => {
    const wall = median(walls[b]!);
    const cpu = median(cpus[b]!);
    return {
      model: label,
      backend: backends[b]!.backend.name,
      seqLen,
      windows: windows.length,
      runs: walls[b]!.length,
      tokensPerSec: tokens / (wall / 1000),
      tokensPerCpuSec: tokens / (cpu / 1000),
      cpusObtained: cpu / wall,
      meanNll: nlls[b]!,
    };
  });
  for (const r of rows) r.speedupVsJs = r.tokensPerSec / rows[0]!.tokensPerSec;
  return rows;
}

const started = new Date().toISOString();
const load0 = loadavg();

if (process.argv.includes("--prune-synthetic")) {
  const rng = createRng(6);
  const tokens = Int32Array.from({ length: 4096 }, () => rng.int(32000));
  const cal = calibrationWindows(tokens, { nsamples: 2, seqlen: 512, seed: 0 });
  const rows: {
    method: string;
    backend: string;
    wallMs: number;
    cpuMs: number;
    zerosIdenticalToJs: boolean;
  }[] = [];
  for (const method of ["wanda", "sparsegpt"] as const) {
    let ref: Uint8Array | undefined;
    for (const nb of backends) {
      const c0 = process.cpuUsage();
      const { model, report } = await prune({
        checkpoint: syntheticLlama(),
        method,
        sparsity: 0.5,
        calibration: cal,
        backend: nb.backend,
      });
      const cpu = cpuMs(process.cpuUsage(c0));
      const w = model.getLinearWeight(7, "down_proj"); // (1024, 2816): the last block
      const zeros = Uint8Array.from(w, (v) => (v === 0 ? 1 : 0));
      ref ??= zeros;
      rows.push({
        method,
        backend: nb.backend.name,
        wallMs: report.wallTimeMs,
        cpuMs: cpu,
        zerosIdenticalToJs: zeros.every((v, i) => v === ref![i]),
      });
      console.log(`${method} ${nb.backend.name}: ${(report.wallTimeMs / 1000).toFixed(1)} s`);
    }
  }
  for (const b of backends) await b.backend.dispose?.();
  const load1 = loadavg();
  await mkdir(outDir, { recursive: true });
  const out = { started, node: process.version, loadavgAtStart: load0, loadavgAtEnd: load1, rows };
  await writeFile(new URL("prune-synthetic.json", outDir), `${JSON.stringify(out, null, 2)}\n`);
  const js = (m: string): number => rows.find((r) => r.method === m && r.backend === "js")!.wallMs;
  const md = [
    "# Pruning wall time on the synthetic Llama (hidden 1024, 8 layers, MLP 2816, vocab 32000) at 50 %",
    "",
    `Run ${started}, Node ${process.version}, ${availableParallelism()} cores; 2 × 512 calibration tokens (random ids), one run per backend. Load average (1, 5, 15 min) ${load0.map((x) => x.toFixed(2)).join(", ")} at start, ${load1.map((x) => x.toFixed(2)).join(", ")} at the end.`,
    "",
    "| method | backend | wall s | × js | CPU s | zeros of layer 7 down_proj identical to js |",
    "|---|---|---:|---:|---:|---|",
    ...rows.map(
      (r) =>
        `| ${r.method} | ${r.backend} | ${(r.wallMs / 1000).toFixed(1)} | ${(js(r.method) / r.wallMs).toFixed(2)} | ${(r.cpuMs / 1000).toFixed(1)} | ${String(r.zerosIdenticalToJs)} |`,
    ),
    "",
  ];
  await writeFile(new URL("prune-synthetic.md", outDir), md.join("\n"));
  console.log(md.join("\n"));
  process.exit(0);
}
const forwardRows: ForwardRow[] = [];

// ---- Bundled stories260K, seqlen 256 ----
const modelBytes = new Uint8Array(await readFile(new URL("data/stories260K/stories260K.bin", root)));
const tok = createLlama2cTokenizer(
  readLlama2cTokenizer(new Uint8Array(await readFile(new URL("data/stories260K/tok512.bin", root))), 512),
);
const text = await readFile(new URL("data/tinystories/tinystories_val.txt", root), "utf8");
const ids = Int32Array.from(tok.encode(text.slice(0, 60000)));
{
  const windows = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ids.slice(i * 256, (i + 1) * 256));
  const models: LlamaModel[] = [];
  for (const b of backends) {
    const m = await loadLlama(await readLlama2c(modelBytes), { backend: b.backend });
    await m.nll(windows[0]!); // warm-up (JIT, weight packing)
    models.push(m);
  }
  const n = quick ? 3 : 5;
  forwardRows.push(
    ...(await forward("stories260K (dim 64, 5 layers, vocab 512)", models, windows, 256, [n, n, n])),
  );
}

// ---- Synthetic realistic-shape Llama, seqlen 512, one window ----
let syntheticLoadMs = 0;
if (!quick) {
  const rng = createRng(5);
  const window = Int32Array.from({ length: 512 }, () => rng.int(32000));
  const t0 = performance.now();
  const models: LlamaModel[] = [];
  const ckpt = syntheticLlama();
  // One set of weights; a backend per model object (the wasm backends pack it on their first call).
  const base = await loadLlama(ckpt, { backend: backends[0]!.backend });
  syntheticLoadMs = performance.now() - t0;
  for (const b of backends) {
    const m = b === backends[0] ? base : await loadLlama(ckpt, { backend: b.backend });
    if (b !== backends[0]) await m.nll(window); // warm-up: packs the weight panels
    models.push(m);
  }
  forwardRows.push(
    ...(await forward(
      "synthetic Llama (hidden 1024, 8 layers, MLP 2816, vocab 32000, 16 heads)",
      models,
      [window],
      512,
      [1, 3, 3],
    )),
  );
}

// ---- Pruning wall time on the bundled model ----
interface PruneRow {
  method: string;
  backend: string;
  runs: number;
  wallMs: number;
  cpuMs: number;
  speedupVsJs?: number;
  zerosIdenticalToJs?: boolean;
}
const pruneRows: PruneRow[] = [];
{
  const cal = calibrationWindows(ids, { nsamples: 16, seqlen: 256, seed: 0 });
  for (const method of ["wanda", "sparsegpt"] as const) {
    const walls: number[][] = backends.map(() => []);
    const cpus: number[][] = backends.map(() => []);
    const masks: Uint8Array[] = [];
    for (let r = 0; r < (quick ? 2 : 3); r++) {
      for (const [b, nb] of backends.entries()) {
        const c0 = process.cpuUsage();
        const { model, report } = await prune({
          checkpoint: await readLlama2c(modelBytes),
          method,
          sparsity: 0.5,
          calibration: cal,
          backend: nb.backend,
        });
        cpus[b]!.push(cpuMs(process.cpuUsage(c0)));
        walls[b]!.push(report.wallTimeMs);
        if (r === 0) {
          const parts: number[] = [];
          for (let l = 0; l < model.config.numLayers; l++)
            for (const n of ["q_proj", "down_proj"] as const)
              for (const v of model.getLinearWeight(l, n)) parts.push(v === 0 ? 1 : 0);
          masks[b] = Uint8Array.from(parts);
        }
      }
    }
    const rows = backends.map(
      (nb, b): PruneRow => ({
        method,
        backend: nb.backend.name,
        runs: walls[b]!.length,
        wallMs: median(walls[b]!),
        cpuMs: median(cpus[b]!),
        zerosIdenticalToJs: masks[b]!.every((v, i) => v === masks[0]![i]),
      }),
    );
    for (const r of rows) r.speedupVsJs = rows[0]!.wallMs / r.wallMs;
    pruneRows.push(...rows);
    console.log(rows.map((r) => `${method} ${r.backend}: ${r.wallMs.toFixed(0)} ms`).join("\n"));
  }
}

for (const b of backends) await b.backend.dispose?.();
const load1 = loadavg();
const result = {
  started,
  node: process.version,
  cores: availableParallelism(),
  loadavgAtStart: load0,
  loadavgAtEnd: load1,
  syntheticLoadMs,
  forward: forwardRows,
  prune: pruneRows,
};
await mkdir(outDir, { recursive: true });
await writeFile(new URL("backends.json", outDir), `${JSON.stringify(result, null, 2)}\n`);
const f = (x: number, d = 1): string => x.toFixed(d);
const md = [
  "# Compute backends end to end (one run)",
  "",
  `Run ${started}, Node ${process.version}, ${availableParallelism()} cores. Load average (1, 5, 15 min) ${load0.map((x) => f(x, 2)).join(", ")} at start, ${load1.map((x) => f(x, 2)).join(", ")} at the end. "cores obtained" = process CPU time / wall time (on a shared machine the all-thread backend may get less than every core).`,
  "",
  "## Forward pass (model.nll over the windows; median of the runs, backends alternated run by run)",
  "",
  "| model | backend | seqlen × windows | runs | tokens/s | × js | tokens per CPU-s | cores obtained | mean NLL |",
  "|---|---|---|---|---:|---:|---:|---:|---:|",
  ...forwardRows.map(
    (r) =>
      `| ${r.model} | ${r.backend} | ${r.seqLen} × ${r.windows} | ${r.runs} | ${f(r.tokensPerSec)} | ${f(r.speedupVsJs ?? 1, 2)} | ${f(r.tokensPerCpuSec)} | ${f(r.cpusObtained, 2)} | ${r.meanNll.toFixed(6)} |`,
  ),
  "",
  "## Pruning wall time, bundled stories260K at 50 % (16 × 256 calibration tokens; report.wallTimeMs, median)",
  "",
  "| method | backend | runs | wall ms | × js | CPU ms | zeros of q_proj/down_proj identical to js |",
  "|---|---|---|---:|---:|---:|---|",
  ...pruneRows.map(
    (r) =>
      `| ${r.method} | ${r.backend} | ${r.runs} | ${f(r.wallMs, 0)} | ${f(r.speedupVsJs ?? 1, 2)} | ${f(r.cpuMs, 0)} | ${String(r.zerosIdenticalToJs)} |`,
  ),
  "",
];
await writeFile(new URL("backends.md", outDir), md.join("\n"));
console.log(md.join("\n"));
