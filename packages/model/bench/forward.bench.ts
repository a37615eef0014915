// Forward-pass benchmark: tokens/s and achieved matmul GFLOP/s of the plain-JS backend on the bundled
// stories260K model (seqlen 256) and on a synthetic Llama of realistic shape (hidden 1024, 8 layers,
// MLP 2816, vocab 32000, seqlen 512, random weights generated lazily in memory). Writes
// bench-results/forward.json and forward.md. Run: npm run bench (in packages/model).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { type ComputeBackend, createRng, type MatmulOptions } from "@mama-prune/core";
import { type Checkpoint, readLlama2c, readLlama2cTokenizer, type TensorInfo } from "@mama-prune/tensor-io";
import { createCpuBackend, createLlama2cTokenizer, type LlamaModel, loadLlama } from "../src/index.ts";

const root = new URL("../../../", import.meta.url);
const outDir = new URL("../bench-results/", import.meta.url);

/** Wrap a backend to count matmul flops and time. */
function instrument(
  be: ComputeBackend,
): ComputeBackend & { flops: number; ms: number; cpuMs: number; reset(): void } {
  const w = {
    name: be.name,
    flops: 0,
    ms: 0,
    cpuMs: 0,
    reset(): void {
      w.flops = 0;
      w.ms = 0;
      w.cpuMs = 0;
    },
    async matmulTransB(
      x: Float32Array,
      wt: Float32Array,
      m: number,
      k: number,
      n: number,
      options?: MatmulOptions,
    ): Promise<Float32Array> {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const y = await be.matmulTransB(x, wt, m, k, n, options);
      w.cpuMs += process.cpuUsage(c0).user / 1000;
      w.ms += performance.now() - t0;
      w.flops += 2 * m * k * n;
      return y;
    },
    gramAccumulate: be.gramAccumulate.bind(be),
    colSqNormAccumulate: be.colSqNormAccumulate.bind(be),
    invalidate: be.invalidate.bind(be),
  };
  return w;
}

/** A checkpoint whose tensors are generated on demand from a seed (no second copy in memory). */
function lazyRandomCheckpoint(config: Record<string, unknown>, shapes: Map<string, number[]>): Checkpoint {
  const infos: TensorInfo[] = [...shapes].map(([name, shape]) => ({
    name,
    dtype: "F32",
    shape,
    byteLength: 4 * shape.reduce((a, b) => a * b, 1),
  }));
  const byName = new Map(infos.map((i) => [i.name, i]));
  let seed = 1;
  const gen = (name: string): Float32Array => {
    const info = byName.get(name)!;
    const n = info.byteLength / 4;
    const rng = createRng(seed++);
    const isNorm = info.shape.length === 1;
    const std = isNorm ? 0.05 : 1 / Math.sqrt(info.shape[1]!);
    const data = new Float32Array(n); // (numel,)
    for (let i = 0; i < n; i++) data[i] = (isNorm ? 1 : 0) + std * (rng.next() * 2 - 1) * Math.sqrt(3);
    return data;
  };
  return {
    source: "<synthetic>",
    format: "safetensors",
    config,
    list: () => infos,
    has: (n) => byName.has(n),
    info: (n) => byName.get(n)!,
    readRaw: async (n) => new Uint8Array(gen(n).buffer),
    readF32: async (n) => gen(n),
    close: async () => {},
  };
}

function syntheticLlama(): Checkpoint {
  const H = 1024;
  const I = 2816;
  const L = 8;
  const V = 32000;
  const heads = 16;
  const hd = H / heads;
  const shapes = new Map<string, number[]>();
  shapes.set("model.embed_tokens.weight", [V, H]);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    shapes.set(`${p}.input_layernorm.weight`, [H]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [H]);
    shapes.set(`${p}.self_attn.q_proj.weight`, [heads * hd, H]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [heads * hd, H]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [heads * hd, H]);
    shapes.set(`${p}.self_attn.o_proj.weight`, [H, heads * hd]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [I, H]);
    shapes.set(`${p}.mlp.up_proj.weight`, [I, H]);
    shapes.set(`${p}.mlp.down_proj.weight`, [H, I]);
  }
  shapes.set("model.norm.weight", [H]);
  shapes.set("lm_head.weight", [V, H]);
  return lazyRandomCheckpoint(
    {
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
    shapes,
  );
}

interface Row {
  model: string;
  seqLen: number;
  windows: number;
  runs: number;
  tokensPerSec: number;
  tokensPerCpuSec: number;
  wallMsPerWindow: number;
  cpuMsPerWindow: number;
  matmulGflopPerWindow: number;
  matmulGflops: number;
  matmulGflopsPerCpuSec: number;
  matmulShareOfWall: number;
  meanNll?: number;
}

async function measure(
  label: string,
  model: LlamaModel,
  be: ReturnType<typeof instrument>,
  windows: Int32Array[],
  seqLen: number,
  runs: number,
): Promise<Row> {
  const timings: { wall: number; cpu: number; mm: number; mmCpu: number; flops: number }[] = [];
  let meanNll: number | undefined;
  for (let r = 0; r < runs; r++) {
    be.reset();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let sum = 0;
    let count = 0;
    for (const w of windows) {
      const nll = await model.nll(w);
      for (const v of nll) sum += v;
      count += nll.length;
    }
    const cpu = process.cpuUsage(c0).user / 1000;
    timings.push({ wall: performance.now() - t0, cpu, mm: be.ms, mmCpu: be.cpuMs, flops: be.flops });
    meanNll = sum / count;
  }
  timings.sort((a, b) => a.wall - b.wall);
  const med = timings[Math.floor(timings.length / 2)]!;
  return {
    model: label,
    seqLen,
    windows: windows.length,
    runs,
    tokensPerSec: (windows.length * seqLen) / (med.wall / 1000),
    tokensPerCpuSec: (windows.length * seqLen) / (med.cpu / 1000),
    wallMsPerWindow: med.wall / windows.length,
    cpuMsPerWindow: med.cpu / windows.length,
    matmulGflopPerWindow: med.flops / windows.length / 1e9,
    matmulGflops: med.flops / 1e9 / (med.mm / 1000),
    matmulGflopsPerCpuSec: med.flops / 1e9 / (med.mmCpu / 1000),
    matmulShareOfWall: med.mm / med.wall,
    ...(meanNll === undefined ? {} : { meanNll }),
  };
}

async function kernel(
  m: number,
  k: number,
  n: number,
): Promise<{ shape: string; gflops: number; gflopsPerCpuSec: number }> {
  const be = createCpuBackend();
  const rng = createRng(3);
  const x = Float32Array.from({ length: m * k }, () => rng.next() - 0.5); // (m, k)
  const w = Float32Array.from({ length: n * k }, () => rng.next() - 0.5); // (n, k)
  await be.matmulTransB(x, w, m, k, n); // warm-up
  const times: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await be.matmulTransB(x, w, m, k, n);
    times.push({ wall: performance.now() - t0, cpu: process.cpuUsage(c0).user / 1000 });
  }
  times.sort((a, b) => a.wall - b.wall);
  const gflop = (2 * m * k * n) / 1e9;
  return {
    shape: `${m}×${k}×${n}`,
    gflops: gflop / (times[1]!.wall / 1000),
    gflopsPerCpuSec: gflop / (times[1]!.cpu / 1000),
  };
}

async function gram(m: number, k: number): Promise<{ shape: string; gflopsPerCpuSec: number }> {
  const be = createCpuBackend();
  const rng = createRng(4);
  const x = Float32Array.from({ length: m * k }, () => rng.next() - 0.5); // (m, k)
  const acc = new Float64Array(k * k); // (k, k)
  await be.gramAccumulate(x, m, k, acc); // warm-up
  const c0 = process.cpuUsage();
  await be.gramAccumulate(x, m, k, acc);
  const cpuMs = process.cpuUsage(c0).user / 1000;
  // Counted as the full 2·m·k² of xᵀx (the backend computes half of it and mirrors).
  return { shape: `${m}×${k}`, gflopsPerCpuSec: (2 * m * k * k) / 1e9 / (cpuMs / 1000) };
}

const started = new Date().toISOString();
const load0 = loadavg()[0]!;
const rows: Row[] = [];

// ---- Bundled stories260K, seqlen 256 ----
{
  const be = instrument(createCpuBackend());
  const ckpt = await readLlama2c(
    new Uint8Array(await readFile(new URL("data/stories260K/stories260K.bin", root))),
  );
  const model = await loadLlama(ckpt, { backend: be });
  const tok = createLlama2cTokenizer(
    readLlama2cTokenizer(new Uint8Array(await readFile(new URL("data/stories260K/tok512.bin", root))), 512),
  );
  const text = await readFile(new URL("data/tinystories/tinystories_val.txt", root), "utf8");
  const ids = tok.encode(text.slice(0, 20000));
  const windows = [0, 1, 2, 3].map((i) => ids.slice(i * 256, (i + 1) * 256));
  await measure("stories260K", model, be, windows.slice(0, 1), 256, 1); // warm-up
  rows.push(await measure("stories260K (dim 64, 5 layers, vocab 512)", model, be, windows, 256, 5));
}

// ---- Synthetic realistic Llama, seqlen 512, one window ----
{
  const be = instrument(createCpuBackend());
  const t0 = performance.now();
  const model = await loadLlama(syntheticLlama(), { backend: be });
  const loadMs = performance.now() - t0;
  const rng = createRng(5);
  const window = Int32Array.from({ length: 512 }, () => rng.int(32000));
  const row = await measure(
    "synthetic Llama (hidden 1024, 8 layers, MLP 2816, vocab 32000, 16 heads)",
    model,
    be,
    [window],
    512,
    1,
  );
  rows.push(row);
  console.log(`synthetic model generated and loaded in ${(loadMs / 1000).toFixed(1)} s`);
}

const kernels = [await kernel(512, 1024, 1024), await kernel(512, 1024, 2816), await kernel(256, 64, 172)];
const grams = [await gram(512, 1024), await gram(2048, 172)];
const peakRssMiB = process.resourceUsage().maxRSS / 1024;
const result = {
  started,
  node: process.version,
  backend: "js (createCpuBackend)",
  loadavg1mAtStart: load0,
  loadavg1mAtEnd: loadavg()[0],
  rows,
  kernels,
  grams,
  peakRssMiB,
};
await mkdir(outDir, { recursive: true });
await writeFile(new URL("forward.json", outDir), `${JSON.stringify(result, null, 2)}\n`);
const md = [
  "# Forward-pass benchmark (@mama-prune/model, plain-JS backend)",
  "",
  `Run ${started}, Node ${process.version}, single thread. 1-min load average ${load0.toFixed(2)} at start, ${(result.loadavg1mAtEnd ?? 0).toFixed(2)} at the end (2-core machine shared with other jobs: wall-clock numbers are contended; "per CPU-s" numbers divide by this process's user CPU time and are the stable ones). Peak RSS ${peakRssMiB.toFixed(0)} MiB.`,
  "",
  "| model | seqlen | windows × runs | tokens/s (wall) | tokens per CPU-s | ms/window (wall) | matmul GFLOP/window | matmul GFLOP/s (wall) | matmul GFLOP per CPU-s | matmul share of wall |",
  "|---|---|---|---|---|---|---|---|---|---|",
  ...rows.map(
    (r) =>
      `| ${r.model} | ${r.seqLen} | ${r.windows} × ${r.runs} | ${r.tokensPerSec.toFixed(1)} | ${r.tokensPerCpuSec.toFixed(1)} | ${r.wallMsPerWindow.toFixed(0)} | ${r.matmulGflopPerWindow.toFixed(2)} | ${r.matmulGflops.toFixed(2)} | ${r.matmulGflopsPerCpuSec.toFixed(2)} | ${(100 * r.matmulShareOfWall).toFixed(0)} % |`,
  ),
  "",
  "Single matmul kernel (median of 3 after warm-up):",
  "",
  "| M×K×N | GFLOP/s (wall) | GFLOP per CPU-s |",
  "|---|---|---|",
  ...kernels.map((k) => `| ${k.shape} | ${k.gflops.toFixed(2)} | ${k.gflopsPerCpuSec.toFixed(2)} |`),
  "",
  "gramAccumulate (xᵀx, float64; counted as 2·m·k² although only the upper triangle is computed):",
  "",
  "| m×k | effective GFLOP per CPU-s |",
  "|---|---|",
  ...grams.map((g) => `| ${g.shape} | ${g.gflopsPerCpuSec.toFixed(2)} |`),
  "",
].join("\n");
await writeFile(new URL("forward.md", outDir), md);
console.log(md);
