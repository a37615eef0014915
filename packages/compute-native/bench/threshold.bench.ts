// Where onnxruntime (MLAS) starts to beat the wasm kernel: matmulTransB GFLOP/s of both, same threads,
// over shapes from stories260K's to llama-3.2-1b's. Writes bench-results/threshold.{json,md}.
//   npm run bench -w @mama-prune/compute-native -- [--threads 2] [--out bench-results/threshold]
import { writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { createWasmBackendNode } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, createRng } from "@mama-prune/core";
import { createNativeBackend } from "../src/node/index.ts";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "2" },
    out: { type: "string", default: new URL("../bench-results/threshold", import.meta.url).pathname },
  },
});
const threads = Number(values.threads);
const wasm = await createWasmBackendNode({ threads });
// threshold 0: every call on onnxruntime (its delegate is a second wasm backend, unused here)
const ort = await createNativeBackend({ threads, threshold: { minDim: 0, minMkn: 0 } });

const SHAPES: [number, number, number][] = [];
for (const [k, n] of [
  [64, 512],
  [256, 256],
  [512, 512],
  [512, 2048],
  [1024, 1024],
  [2048, 2048],
  [2048, 8192],
] as const) {
  for (const m of [16, 128, 512]) SHAPES.push([m, k, n]);
}
// k = 128: SparseGPT's lazy batch (x = the errors of a 128-column block, rows × 128) and the blocked
// factor's updates on 1B/7B widths (run 3 on; decided minDim 256 → 128).
for (const [m, n] of [
  [128, 128],
  [512, 512],
  [2048, 2048],
  [2048, 8064],
  [8192, 2000],
] as const) {
  SHAPES.push([m, 128, n]);
}

async function gflops(b: ComputeBackend, m: number, k: number, n: number): Promise<number> {
  const rng = createRng(m * 7 + k * 3 + n);
  const x = Float32Array.from({ length: m * k }, () => rng.normal());
  const w = Float32Array.from({ length: n * k }, () => rng.normal());
  const out = new Float32Array(m * n);
  await b.matmulTransB(x, w, m, k, n, { out }); // warm-up (packing / session)
  const reps = Math.max(3, Math.min(50, Math.ceil(2e9 / (2 * m * k * n))));
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) await b.matmulTransB(x, w, m, k, n, { out });
    best = Math.min(best, (performance.now() - t) / reps);
  }
  return (2 * m * k * n) / best / 1e6;
}

const load0 = loadavg();
const rows: { m: number; k: number; n: number; wasm: number; ort: number }[] = [];
for (const [m, k, n] of SHAPES) {
  const w = await gflops(wasm, m, k, n);
  const o = await gflops(ort, m, k, n);
  rows.push({ m, k, n, wasm: w, ort: o });
  console.log(`${m}×${k}×${n}: wasm ${w.toFixed(1)}  ort ${o.toFixed(1)}  (${(o / w).toFixed(2)}×)`);
}
await wasm.dispose();
await ort.dispose();
const meta = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
  threads,
  loadavg: [load0, loadavg()],
};
await writeFile(`${values.out}.json`, `${JSON.stringify({ meta, rows }, null, 2)}\n`);
const md = [
  `# matmulTransB: onnxruntime-node (MLAS) vs wasm, x${threads}`,
  "",
  `${meta.date}, ${meta.cpus}, Node ${meta.node}; load average ${load0.map((x) => x.toFixed(2)).join("/")} at start, ${loadavg()
    .map((x) => x.toFixed(2))
    .join(
      "/",
    )} at end (shared machine: indicative). GFLOP/s = 2mkn / best-of-3 mean time per call, weights warm.`,
  "",
  "| m × k × n | wasm GFLOP/s | onnxruntime GFLOP/s | ort / wasm |",
  "|---|---:|---:|---:|",
  ...rows.map(
    (r) =>
      `| ${r.m} × ${r.k} × ${r.n} | ${r.wasm.toFixed(1)} | ${r.ort.toFixed(1)} | ${(r.ort / r.wasm).toFixed(2)}× |`,
  ),
  "",
].join("\n");
await writeFile(`${values.out}.md`, md);
console.log(`wrote ${values.out}.md`);
