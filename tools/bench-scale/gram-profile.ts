// One wide gramAccumulate (issue 12): wall time, real GFLOP/s (upper triangle: m·k·(k+1) flops) next to
// the same backend's GEMM (matmulTransB 512 × 2048 × 2048), for `node --cpu-prof`:
//   node --cpu-prof --cpu-prof-dir <dir> --conditions @mama-prune/source --import tsx tools/bench-scale/gram-profile.ts [k] [rows] [calls]
import { createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import { createRng } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";

const [k = 8192, m = 4096, calls = 2] = process.argv.slice(2).map(Number);
const backend = await createDefaultCpuBackend({ fallback: createCpuBackend });
const rng = createRng(7);
const a = Float32Array.from({ length: 512 * 2048 }, () => rng.normal());
const b = Float32Array.from({ length: 2048 * 2048 }, () => rng.normal());
let best = Infinity;
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  await backend.matmulTransB(a, b, 512, 2048, 2048);
  best = Math.min(best, performance.now() - t);
}
const gemm = (2 * 512 * 2048 * 2048) / best / 1e6;
const x = Float32Array.from({ length: m * k }, () => rng.normal());
const acc = new Float64Array(k * k);
for (let c = 0; c < calls; c++) {
  const t = performance.now();
  await backend.gramAccumulate(x, m, k, acc);
  const ms = performance.now() - t;
  const real = (m * k * (k + 1)) / ms / 1e6; // upper triangle incl. diagonal: m·k(k+1)/2 multiply-adds
  console.log(
    `${backend.name} gram k=${k} m=${m}: ${ms.toFixed(0)} ms, ${real.toFixed(1)} GFLOP/s done (${((2 * m * k * k) / ms / 1e6).toFixed(1)} full-product equivalent); GEMM ${gemm.toFixed(1)} GFLOP/s`,
  );
}
await backend.dispose();
