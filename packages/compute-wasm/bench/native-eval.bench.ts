/**
 * Evaluation of onnxruntime-node (MLAS) as an optional native Node backend, against the wasm SIMD
 * backend and plain JS, in one run: GEMM GFLOP/s on the 1B/7B shapes, then a forward pass and a
 * Wanda prune of a synth llama-3.2-1b folder cut to 2 layers. Writes bench-results/native-eval.json.
 * (@mama-prune/pipeline is imported from the workspace without a devDependency: pipeline already
 * depends on compute-wasm, and the benchmark is not part of the package.)
 *
 *   npm run synth -- --shape llama-3.2-1b --layers 2 --dtype bf16 --out models/l1b-2
 *   (cd models/ortx && npm i --ignore-scripts onnxruntime-node@1.30.0)   # not a dependency of the repo
 *   npx tsx --conditions @mama-prune/source packages/compute-wasm/bench/native-eval.bench.ts \
 *     --ort models/ortx --model models/l1b-2 [--quick] [--skip-kernels] [--e2e "wasm x2,ort x2"] [--out FILE]
 */
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ComputeBackend, createRng } from "@mama-prune/core";
import { createCpuBackend, LINEAR_NAMES, loadLlama } from "@mama-prune/model";
import { prune } from "@mama-prune/pipeline";
import { openCheckpoint } from "@mama-prune/tensor-io/node";
import { createWasmBackendNode } from "../src/node/index.ts";
import { type Ort, OrtBackend } from "./native-eval/ort-backend.ts";

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const skipKernels = args.includes("--skip-kernels");
const e2eLabels =
  arg("--e2e")?.split(",") ?? (quick ? ["wasm x2", "ort x2"] : ["wasm x2", "ort x2", "ort x2 init"]);
const ortDir = arg("--ort") ?? "models/ortx";
const modelDir = arg("--model");
const out =
  arg("--out") ?? join(dirname(fileURLToPath(import.meta.url)), "..", "bench-results", "native-eval.json");
const ort = createRequire(join(ortDir, "/"))("onnxruntime-node") as Ort;

const SHAPES: readonly (readonly [number, number, number])[] = quick
  ? [[512, 2048, 2048]]
  : [
      [512, 2048, 2048],
      [512, 2048, 8192],
      [512, 8192, 2048],
      [512, 4096, 11008],
    ];
const RUNS = quick ? 2 : 3;

function uniform(length: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = 2 * rng.next() - 1;
  return a;
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const cpuSec = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface Backends {
  readonly [label: string]: () => Promise<ComputeBackend>;
}
const backends: Backends = {
  js: async () => createCpuBackend(),
  "wasm x1": () => createWasmBackendNode({ threads: 1 }),
  "wasm x2": () => createWasmBackendNode({ threads: 2 }),
  "ort x1": async () => new OrtBackend(ort, { threads: 1 }),
  "ort x2": async () => new OrtBackend(ort, { threads: 2 }),
  "ort x1 init": async () => new OrtBackend(ort, { threads: 1, weights: "initializer" }),
  "ort x2 init": async () => new OrtBackend(ort, { threads: 2, weights: "initializer" }),
};

const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  loadBefore: load(),
};
console.log(`native-eval ${result.date} ${result.cpu} ×${result.cores} load ${result.loadBefore}`);

// ---- GEMM ----
if (!skipKernels) {
  const gemm: Record<string, unknown>[] = [];
  for (const [m, k, n] of SHAPES) {
    const x = uniform(m * k, 1);
    const w = uniform(n * k, 2);
    const flop = 2 * m * k * n;
    let ref: Float32Array | undefined;
    for (const [label, make] of Object.entries(backends)) {
      const b = await make();
      const runs = label === "js" ? 1 : RUNS;
      const t0 = performance.now();
      const first = await b.matmulTransB(x, w, m, k, n); // warm-up: packing, session creation
      const firstMs = performance.now() - t0;
      if (label === "js") ref = first;
      let err = 0;
      let mx = 0;
      if (ref) {
        for (let i = 0; i < first.length; i++) {
          err = Math.max(err, Math.abs((first[i] as number) - (ref[i] as number)));
          mx = Math.max(mx, Math.abs(ref[i] as number));
        }
      }
      const y = new Float32Array(m * n);
      const ms: number[] = [];
      const c0 = cpuSec();
      const w0 = performance.now();
      if (label === "js") ms.push(firstMs);
      else
        for (let r = 0; r < runs; r++) {
          const t = performance.now();
          await b.matmulTransB(x, w, m, k, n, { out: y });
          ms.push(performance.now() - t);
        }
      const cores = label === "js" ? 1 : (cpuSec() - c0) / ((performance.now() - w0) / 1000);
      const row = {
        shape: `${m}x${k}x${n}`,
        backend: b.name,
        label,
        medianMs: median(ms),
        gflops: flop / (median(ms) / 1000) / 1e9,
        bestGflops: flop / (Math.min(...ms) / 1000) / 1e9,
        firstMs,
        cores,
        relErrVsJs: mx > 0 ? err / mx : 0,
        load1: loadavg()[0] ?? 0,
      };
      gemm.push(row);
      console.log(
        `gemm ${row.shape} ${label.padEnd(12)} ${row.gflops.toFixed(1).padStart(6)} GFLOP/s (best ${row.bestGflops.toFixed(1)}) first ${firstMs.toFixed(0)} ms @${cores.toFixed(2)}c err ${row.relErrVsJs.toExponential(1)} load ${row.load1.toFixed(2)}`,
      );
      await b.dispose?.();
    }
  }
  result.gemm = gemm;

  // ---- Gram (Hessian statistics): agreement with the float64 JS reference and speed ----
  {
    const m = 512;
    const k = quick ? 1024 : 2048;
    const x = uniform(m * k, 3);
    const gram: Record<string, unknown>[] = [];
    const refAcc = new Float64Array(k * k);
    await createCpuBackend().gramAccumulate(x, m, k, refAcc);
    for (const label of ["wasm x2", "ort x2"]) {
      const b = await (backends[label] as () => Promise<ComputeBackend>)();
      const acc = new Float64Array(k * k);
      await b.gramAccumulate(x, m, k, acc);
      acc.fill(0);
      const t = performance.now();
      await b.gramAccumulate(x, m, k, acc);
      const ms = performance.now() - t;
      let err = 0;
      let mx = 0;
      for (let i = 0; i < acc.length; i++) {
        err = Math.max(err, Math.abs((acc[i] as number) - (refAcc[i] as number)));
        mx = Math.max(mx, Math.abs(refAcc[i] as number));
      }
      const row = {
        shape: `${m}x${k}`,
        label,
        ms,
        gflops: (2 * m * k * k) / (ms / 1000) / 1e9,
        relErrVsJsF64: err / mx,
      };
      gram.push(row);
      console.log(
        `gram ${row.shape} ${label} ${ms.toFixed(0)} ms ${row.gflops.toFixed(1)} GFLOP/s err ${row.relErrVsJsF64.toExponential(1)}`,
      );
      await b.dispose?.();
    }
    result.gram = gram;
  }
}

// ---- End to end on the synth 1B shape (2 layers) ----
if (modelDir) {
  const e2e: Record<string, unknown>[] = [];
  const seqlen = 512;
  const nsamples = quick ? 2 : 8;
  const rng = createRng(7);
  const ck0 = await openCheckpoint(modelDir);
  const vocab = (ck0.config as { vocab_size?: number }).vocab_size ?? 128256;
  await (ck0 as { close?: () => Promise<void> }).close?.();
  const tokens = new Int32Array(nsamples * seqlen);
  for (let i = 0; i < tokens.length; i++) tokens[i] = Math.floor(rng.next() * vocab);
  const window = tokens.subarray(0, seqlen);
  let refLogits: Float32Array | undefined;
  let refMasks: Uint8Array[] | undefined;
  for (const label of e2eLabels) {
    const backend = await (backends[label] as () => Promise<ComputeBackend>)();
    // forward: one 512-token window through the 2 blocks and the 128256-row head
    const ckpt = await openCheckpoint(modelDir);
    let t = performance.now();
    const model = await loadLlama(ckpt, { backend });
    const loadMs = performance.now() - t;
    await model.forward(window, 1, seqlen); // warm-up (packing / sessions)
    let c0 = cpuSec();
    t = performance.now();
    const logits = await model.forward(window, 1, seqlen);
    const forwardMs = performance.now() - t;
    const forwardCores = (cpuSec() - c0) / (forwardMs / 1000);
    const forwardRssMiB = process.memoryUsage().rss / 2 ** 20;
    let err = 0;
    let mx = 0;
    if (!refLogits) refLogits = logits;
    for (let i = 0; i < logits.length; i++) {
      err = Math.max(err, Math.abs((logits[i] as number) - (refLogits[i] as number)));
      mx = Math.max(mx, Math.abs(refLogits[i] as number));
    }
    await model.dispose();
    await (ckpt as { close?: () => Promise<void> }).close?.();
    // Wanda 0.5 with nsamples × 512 calibration tokens (prune loads the model itself, cold)
    const ckpt2 = await openCheckpoint(modelDir);
    c0 = cpuSec();
    t = performance.now();
    const { model: pruned, report } = await prune({
      checkpoint: ckpt2,
      method: "wanda",
      sparsity: 0.5,
      calibration: { tokens, nsamples, seqlen },
      backend,
    });
    const pruneMs = performance.now() - t;
    const pruneCores = (cpuSec() - c0) / (pruneMs / 1000);
    const masks: Uint8Array[] = [];
    for (let l = 0; l < 2; l++)
      for (const name of LINEAR_NAMES) {
        const w = pruned.getLinearWeight(l, name);
        const z = new Uint8Array(w.length);
        for (let i = 0; i < w.length; i++) z[i] = w[i] === 0 ? 1 : 0;
        masks.push(z);
      }
    let diff = 0;
    let total = 0;
    if (!refMasks) refMasks = masks;
    for (let j = 0; j < masks.length; j++) {
      const a = masks[j] as Uint8Array;
      const r = refMasks[j] as Uint8Array;
      total += a.length;
      for (let i = 0; i < a.length; i++) if (a[i] !== r[i]) diff++;
    }
    await pruned.dispose();
    await (ckpt2 as { close?: () => Promise<void> }).close?.();
    await backend.dispose?.();
    const row = {
      label,
      backend: backend.name,
      loadMs,
      forwardMs,
      forwardCores,
      forwardCpuS: (forwardCores * forwardMs) / 1000,
      forwardRssMiB,
      logitsRelErrVsWasm: mx > 0 ? err / mx : 0,
      pruneMs,
      pruneCores,
      pruneCpuS: (pruneCores * pruneMs) / 1000,
      pruneReportMs: report.wallTimeMs,
      overallSparsity: report.overallSparsity,
      maskEntriesDifferingFromWasm: diff,
      maskEntries: total,
      load1: loadavg()[0] ?? 0,
    };
    e2e.push(row);
    console.log(
      `e2e ${label.padEnd(12)} load ${loadMs.toFixed(0)} ms, forward 1×512 ${forwardMs.toFixed(0)} ms @${forwardCores.toFixed(2)}c rss ${forwardRssMiB.toFixed(0)} MiB (logits err ${row.logitsRelErrVsWasm.toExponential(1)}), wanda ${nsamples}×512 ${pruneMs.toFixed(0)} ms @${pruneCores.toFixed(2)}c, mask diff ${diff}/${total}, load ${row.load1.toFixed(2)}`,
    );
  }
  result.e2e = e2e;
}
result.loadAfter = load();
console.log(`load after ${result.loadAfter}`);
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${out}`);
