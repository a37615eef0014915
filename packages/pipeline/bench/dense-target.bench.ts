// MAMA's dense target V = (H̃ + λI)⁻¹(C + λI)w at the Llama 3.2 1B down_proj shape (2048 × 8192), wasm x2:
// the backend path (float32 GEMMs) at 8192 columns, and at 2048 columns both paths (JS float64 and
// backend) with their agreement. JS at 8192 is extrapolated from 2048 (Cholesky part by n³, the row
// loops by n²; see the output). H̃ is correlated (AR(1) ρ = 0.9 with random scales + 4 low-rank
// factors), C = H̃ + a small non-symmetric perturbation. Run:
//   npx tsx --conditions @mama-prune/source --expose-gc packages/pipeline/bench/dense-target.bench.ts
import { createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import { createRng, matrix } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";
import { cholesky } from "@mama-prune/redistribute";
import { denseTargetWeight } from "../src/dense-target.ts";

const ROWS = 2048;
const rng = createRng(1);
const g = (): number =>
  Math.sqrt(-2 * Math.log(Math.max(rng.next(), 1e-12))) * Math.cos(2 * Math.PI * rng.next());

function problem(n: number) {
  const s = Float64Array.from({ length: n }, () => 0.5 + rng.next()); // (n,)
  const l = Float64Array.from({ length: 4 * n }, g); // (4, n)
  const gram = new Float64Array(n * n);
  const cross = new Float64Array(n * n);
  const pw = new Float64Array(n + 1);
  pw[0] = 1;
  for (let k = 1; k <= n; k++) pw[k] = pw[k - 1]! * 0.9;
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      let v = s[a]! * s[b]! * pw[Math.abs(a - b)]!;
      for (let q = 0; q < 4; q++) v += l[q * n + a]! * l[q * n + b]!;
      gram[a * n + b] = v;
      cross[a * n + b] = v + 0.05 * s[a]! * s[b]! * g();
    }
  }
  const w = Float32Array.from({ length: ROWS * n }, g); // (ROWS, n)
  return { gram, cross, W: matrix(ROWS, n, w) };
}

const secs = (t0: number): number => (performance.now() - t0) / 1000;
const backend = await createDefaultCpuBackend({ fallback: createCpuBackend, prefer: "wasm", threads: 2 });
console.log(`backend: ${backend.name}`);

{
  const n = 2048;
  const p = problem(n);
  let t0 = performance.now();
  const js = await denseTargetWeight(p.W, p.gram, p.cross, 0.01, "bench");
  const tJs = secs(t0);
  const a = new Float64Array(p.gram);
  for (let j = 0; j < n; j++) a[j * n + j]! += js.lambda;
  t0 = performance.now();
  cholesky(a, n);
  const tChol = secs(t0);
  t0 = performance.now();
  const be = await denseTargetWeight(p.W, p.gram, p.cross, 0.01, "bench", 1, backend);
  const tBe = secs(t0);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < js.target.data.length; i++) {
    err = Math.max(err, Math.abs(be.target.data[i]! - js.target.data[i]!));
    scale = Math.max(scale, Math.abs(js.target.data[i]!));
  }
  const rest = tJs - tChol;
  console.log(
    `2048x2048: JS ${tJs.toFixed(1)} s (Cholesky ${tChol.toFixed(1)} s, rows ${rest.toFixed(1)} s), backend ${tBe.toFixed(1)} s, max|Vb − Vjs|/max|V| = ${(err / scale).toExponential(2)}`,
  );
  console.log(
    `2048x8192 JS extrapolated: ${(tChol * 64 + rest * 16).toFixed(0)} s (Cholesky ×64, rows ×16); pure n³: ${(tJs * 64).toFixed(0)} s`,
  );
}
{
  const n = 8192;
  const p = problem(n);
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss / 2 ** 20;
  const t0 = performance.now();
  const be = await denseTargetWeight(p.W, p.gram, p.cross, 0.01, "bench", 1, backend);
  const t = secs(t0);
  const peak = process.resourceUsage().maxRSS / 1024;
  console.log(
    `2048x8192 backend: ${t.toFixed(1)} s, warnings ${be.warnings.length}; RSS before ${rss0.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB (+${(peak - rss0).toFixed(0)} MiB)`,
  );
}
await backend.dispose?.();
