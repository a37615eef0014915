// Where SparseGPT's peak RSS goes on a 7B-shape block (issue 12). Run with --expose-gc:
//   node --expose-gc --conditions @mama-prune/source --import tsx tools/bench-scale/memory-probe.ts pipeline [--layers 1]
//     the real streamed prune (pruneToCheckpoint, SparseGPT 0.5, 4 × 512) of a synthesized llama-2-7b
//     block; every backend call samples process.memoryUsage() and the wasm memory, and a line is
//     printed each time the peak RSS has grown by 64 MiB or the current RSS has moved by 256 MiB
//     (with the call that found it); then the
//     per-linear times. [--shape llama-3.2-1b] [--method mama] [--nsamples 32] [--level 2:4] pick
//     another shape, method, calibration size (default 4 × 512) or level; the method's log lines
//     (MAMA: each linear's start) are printed with the memory then. [--backend native|wasm]: the
//     backend (default native, onnxruntime + wasm, the CLI's and bench:scale's default; its wasm
//     column is the delegate's kernel memory, onnxruntime's own allocations count in rss only).
//     [--gc-at-marks]: call gc() at each method log line (MAMA: each linear's start and its dense
//     target), to tell the live set from the garbage V8 has not collected yet. The prune gets the
//     CLI's garbage collection hook (PruneOptions.collectGarbage = nodeGarbageCollector()), as
//     bench:scale; [--no-gc-hook] runs it without (the library's default).
//   node --expose-gc ... memory-probe.ts linear [--level 0.5]
//     one down_proj-shaped SparseGPT (4096 × 11008, Gram of 2048 × 11008 activations) in the pipeline's
//     situation (the block's float32 weights resident, their packed copies dropped), logged at SparseGPT's
//     stage boundaries (onStage), and around it before and after a forced gc().
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, createRng, matrix } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";
import { pruneToCheckpoint } from "@mama-prune/pipeline";
import { nodeGarbageCollector } from "@mama-prune/pipeline/node";
import { sparsegpt } from "@mama-prune/redistribute";
import { createCheckpointDirWriter, openCheckpoint } from "@mama-prune/tensor-io/node";
import { synthesize } from "../synth/synth.ts";

const MiB = 2 ** 20;
const gc = (globalThis as { gc?: () => void }).gc;

interface Sample {
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
  external: number;
  wasm: number;
  maxRss: number;
}

function sampler(wasmBytes: () => number): () => Sample {
  return () => {
    const m = process.memoryUsage();
    return {
      rss: m.rss / MiB,
      heapUsed: m.heapUsed / MiB,
      arrayBuffers: m.arrayBuffers / MiB,
      external: m.external / MiB,
      wasm: wasmBytes() / MiB,
      maxRss: process.resourceUsage().maxRSS / 1024,
    };
  };
}

const fmt = (s: Sample): string =>
  `rss ${s.rss.toFixed(0)} | heapUsed ${s.heapUsed.toFixed(0)} | arrayBuffers ${s.arrayBuffers.toFixed(0)} | external ${s.external.toFixed(0)} | wasm ${s.wasm.toFixed(0)} | maxRSS ${s.maxRss.toFixed(0)}`;

async function makeBackend(name: string): Promise<{
  backend: ComputeBackend;
  wasmBytes: () => number;
  dispose: () => Promise<void>;
}> {
  let b: ComputeBackend;
  // The kernel memory's owner: the wasm backend itself, or the native backend's wasm delegate.
  let kernels: ComputeBackend;
  if (name === "native") {
    const { createNativeBackend } = await import("@mama-prune/compute-native/node");
    const nb = await createNativeBackend();
    b = nb;
    kernels = nb.delegate;
  } else if (name === "wasm") {
    b = await createDefaultCpuBackend({ fallback: createCpuBackend });
    kernels = b;
  } else throw new Error(`--backend: expected native or wasm, got ${JSON.stringify(name)}`);
  const stats = (kernels as { stats?: () => { memoryBytes?: number } }).stats;
  console.log(`backend ${b.name}`);
  return {
    backend: b,
    wasmBytes: () => (stats === undefined ? 0 : (stats.call(kernels).memoryBytes ?? 0)),
    dispose: async () => {
      await b.dispose?.();
    },
  };
}

// ---- pipeline: the real streamed prune, phases told apart by the backend calls ----

async function pipeline(
  layers: number,
  level: string,
  shape: string,
  method: string,
  nsamples: number,
  backendName: string,
  gcAtMarks: boolean,
  gcHook: boolean,
): Promise<void> {
  const { backend, wasmBytes, dispose } = await makeBackend(backendName);
  const sample = sampler(wasmBytes);
  const model = join("models", `probe-${shape}-L${layers}`);
  const out = join("models", "probe-out");
  await rm(model, { recursive: true, force: true });
  await rm(out, { recursive: true, force: true });
  await synthesize({ shape: shape as "llama-2-7b", out: model, layers });
  gc?.();
  console.log(`start ${fmt(sample())}`);
  // One line each time the peak RSS has grown by 64 MiB since the last such line, or the current RSS
  // has moved by 256 MiB (up or down: a collection, a phase's working set) since the last line: the
  // backend call that found it (name, shape) and the memory then.
  const t0 = performance.now();
  let shown = 0;
  let lastRss = 0;
  const probe = new Proxy(backend, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        const r = v.apply(target, args);
        const shape = args.filter((a) => typeof a === "number").join("×");
        const after = (x: unknown): unknown => {
          const s = sample();
          if (s.maxRss >= shown + 64 || Math.abs(s.rss - lastRss) >= 256) {
            shown = Math.max(shown, s.maxRss);
            lastRss = s.rss;
            const t = ((performance.now() - t0) / 1000).toFixed(0).padStart(4);
            console.log(`${t} s ${String(prop)}(${shape}): ${fmt(s)}`);
          }
          return x;
        };
        return r instanceof Promise ? r.then(after) : r;
      };
    },
  });
  const mark = (m: string): void => {
    const t = ((performance.now() - t0) / 1000).toFixed(0).padStart(4);
    let s = sample();
    lastRss = s.rss;
    console.log(`${t} s [${m.slice(0, 90)}]: ${fmt(s)}`);
    if (gcAtMarks && gc !== undefined) {
      gc(); // what the peak would be if dead buffers were collected at each mark (--gc-at-marks)
      s = sample();
      lastRss = s.rss;
      console.log(`${t} s   after gc(): ${fmt(s)}`);
    }
  };
  const ckpt = await openCheckpoint(model);
  const V = (ckpt.config as Record<string, number>)["vocab_size"]!;
  const rng = createRng(7);
  const seqlen = 512;
  const tokens = Int32Array.from({ length: nsamples * seqlen }, () => rng.int(V));
  const sparsity = /^(\d+):(\d+)$/.exec(level);
  const { report } = await pruneToCheckpoint(await createCheckpointDirWriter(out), {
    checkpoint: ckpt,
    backend: probe,
    method,
    // Stage marks: MAMA logs its path choice at each linear's start (debug), SparseGPT its escalations.
    logger: {
      debug: (m: string) => mark(m),
      info: (m: string) => mark(m),
      warn: (m: string) => mark(m),
    },
    sparsity: sparsity !== null ? { n: Number(sparsity[1]), m: Number(sparsity[2]) } : Number(level),
    calibration: { tokens, nsamples, seqlen },
    // As the CLI and bench:scale (--no-gc-hook: without it, as the library's default).
    ...(gcHook ? { collectGarbage: nodeGarbageCollector() } : {}),
  });
  for (const l of report.linears) console.log(`${l.name} ${(l.wallTimeMs / 1000).toFixed(1)} s`);
  console.log(`end          ${fmt(sample())}`);
  await ckpt.close();
  await dispose();
  await rm(model, { recursive: true, force: true });
  await rm(out, { recursive: true, force: true });
}

// ---- linear: one down_proj SparseGPT, stage boundaries ----

async function linear(level: string, backendName: string): Promise<void> {
  const { backend, wasmBytes, dispose } = await makeBackend(backendName);
  const sample = sampler(wasmBytes);
  // Inside sparsegpt (onStage is synchronous) the values are as found. Between the steps outside it,
  // also after gc() and a 200 ms pause: V8 frees dead ArrayBuffers' memory on a background sweeper
  // after the collection, so values read right after gc() still include them.
  const log = (what: string): void => console.log(`${what.padEnd(16)} ${fmt(sample())}`);
  const settle = async (what: string): Promise<void> => {
    log(what);
    gc?.();
    await new Promise((r) => setTimeout(r, 200));
    console.log(`${"".padEnd(16)} after gc: ${fmt(sample())}`);
  };
  const H = 4096;
  const I = 11008;
  const T = 2048;
  const rng = createRng(3);
  const normal = (n: number, s: number): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = s * rng.normal();
    return a;
  };
  await settle("start");
  // The block's float32 weights (q, k, v, o: H×H; gate, up: I×H; down: H×I), packed once by a GEMM
  // each as the forward does, then dropped from the cache as the pipeline does after its statistics.
  const block = [H * H, H * H, H * H, H * H, I * H, I * H, H * I].map((n) => normal(n, 0.02));
  const shapes: [number, number][] = [
    [H, H],
    [H, H],
    [H, H],
    [H, H],
    [I, H],
    [I, H],
    [H, I],
  ];
  for (let i = 0; i < block.length; i++) {
    const [n, k] = shapes[i]!;
    await backend.matmulTransB(normal(512 * k, 1), block[i]!, 512, k, n);
  }
  await settle("forward");
  const x = normal(T * I, 1);
  for (let i = 0; i < T * I; i += I)
    for (let j = 1; j < I; j++) x[i + j] = 0.7 * x[i + j]! + 0.3 * x[i + j - 1]!;
  const gram = new Float64Array(I * I);
  await backend.gramAccumulate(x, T, I, gram);
  await settle("gram");
  for (const w of block) backend.invalidate(w);
  await settle("invalidated");
  const W = matrix(H, I, new Float32Array(block[6]!));
  const stamps: string[] = [];
  const nm = /^(\d+):(\d+)$/.exec(level);
  const t0 = performance.now();
  const r = await sparsegpt(W, gram, {
    sparsity: nm !== null ? { n: Number(nm[1]), m: Number(nm[2]) } : Number(level),
    backend,
    overwriteHessian: true,
    onStage: (stage) => {
      stamps.push(`${stage} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      log(stage);
    },
  });
  await settle("returned");
  console.log(stamps.join(", "), JSON.stringify(r.diagnostics.stageMs));
  await dispose();
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    layers: { type: "string", default: "1" },
    level: { type: "string", default: "0.5" },
    shape: { type: "string", default: "llama-2-7b" },
    method: { type: "string", default: "sparsegpt" },
    nsamples: { type: "string", default: "4" },
    backend: { type: "string", default: "native" },
    "gc-at-marks": { type: "boolean", default: false },
    "no-gc-hook": { type: "boolean", default: false },
  },
});
if (gc === undefined) console.log("(run with node --expose-gc for the after-gc columns)");
if (positionals[0] === "pipeline")
  await pipeline(
    Number(values.layers),
    values.level,
    values.shape,
    values.method,
    Number(values.nsamples),
    values.backend,
    values["gc-at-marks"],
    !values["no-gc-hook"],
  );
else await linear(values.level, values.backend);
