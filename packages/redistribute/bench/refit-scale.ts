// Cost of pcgRefit on real-size Linear shapes, on the wasm SIMD backend with 2 threads.
// Run: npm run bench:refit [-- --quick]. Writes bench-results/refit.md (and .json).
// Synthetic correlated H built in O(n²·r) (no calibration pass): AR(1) local correlations (ρ = 0.5),
// a rank-8 spike of shared directions, log-normal channel scales with outlier channels, a mean offset.
// Node-only script (fs, os, worker threads); not part of the library.

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { createWasmBackendNode } from "@mama-prune/compute-wasm/node";
import { createRng, matrix } from "@mama-prune/core";
import { pcgRefit, refitCost } from "../src/index.ts";
import { choleskyInPlace } from "../src/linalg.ts";

const quick = process.argv.includes("--quick");

function syntheticHessian(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const r = 8;
  const v = new Float64Array(r * n); // (r, n) spike directions, strengths 3/(s+1)
  for (let s = 0; s < r; s++) for (let j = 0; j < n; j++) v[s * n + j] = (3 / (s + 1)) * rng.normal();
  const scale = new Float64Array(n); // (n,)
  for (let j = 0; j < n; j++) scale[j] = Math.exp(0.5 * rng.normal()) * (j % 97 === 13 ? 10 : 1);
  const h = new Float32Array(n * n); // (n, n)
  const rho = 0.5;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = rho ** (i - j) + 0.09; // AR(1) + mean offset 0.3²
      for (let t = 0; t < r; t++) s += v[t * n + i]! * v[t * n + j]!;
      const x = s * scale[i]! * scale[j]!;
      h[i * n + j] = x;
      h[j * n + i] = x;
    }
  }
  return h;
}

function masks(rows: number, cols: number, w: Float32Array): [string, Uint8Array][] {
  const un = new Uint8Array(rows * cols); // 50 % per row by |w| (Wanda-like ranks, weights are iid)
  const nm = new Uint8Array(rows * cols).fill(1); // 2:4 by |w|
  const rng = createRng(7);
  for (let i = 0; i < un.length; i++) un[i] = rng.next() < 0.5 ? 0 : 1;
  for (let i = 0; i < nm.length; i += 4) {
    const idx = [0, 1, 2, 3].sort((a, b) => Math.abs(w[i + a]!) - Math.abs(w[i + b]!));
    nm[i + idx[0]!] = 0;
    nm[i + idx[1]!] = 0;
  }
  return [
    ["50 % unstructured", un],
    ["2:4", nm],
  ];
}

function jsCholeskyRate(): number {
  const n = 512;
  const a = new Float64Array(n * n);
  const rng = createRng(3);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = i === j ? n : rng.normal();
  choleskyInPlace(new Float64Array(a), n); // warm-up
  const t0 = performance.now();
  choleskyInPlace(a, n);
  return n ** 3 / 6 / ((performance.now() - t0) / 1000);
}

const backend = await createWasmBackendNode({ threads: 2 });
const lines: string[] = [];
const json: unknown[] = [];
try {
  // Backend GEMM rate on the shape of one PCG iteration (1024 × 2048 by 2048 × 2048).
  const gm = 1024;
  const gn = 2048;
  const gx = new Float32Array(gm * gn).map((_, i) => Math.sin(i));
  const gw = new Float32Array(gn * gn).map((_, i) => Math.cos(i));
  await backend.matmulTransB(gx, gw, gm, gn, gn);
  const g0 = performance.now();
  await backend.matmulTransB(gx, gw, gm, gn, gn);
  const gemmGflops = (2 * gm * gn * gn) / ((performance.now() - g0) / 1000) / 1e9;
  const jsRate = jsCholeskyRate();
  console.log(`GEMM ${gemmGflops.toFixed(1)} GFLOP/s, JS Cholesky ${(jsRate / 1e9).toFixed(2)}e9 madd/s`);

  let fullIterations = 0; // most iterations to tolerance on the uncapped layers (for extrapolation)
  const layers: { label: string; rows: number; cols: number; cap?: number }[] = quick
    ? [{ label: "quick", rows: 1024, cols: 1024 }]
    : [
        { label: "llama-3.2-1b up/gate_proj", rows: 8192, cols: 2048 },
        { label: "llama-3.2-1b down_proj", rows: 2048, cols: 8192, cap: 3 },
        { label: "llama-2-7b down_proj", rows: 4096, cols: 11008, cap: 1 },
      ];
  lines.push(
    `${new Date().toISOString()} · Node ${process.version} · ${cpus()[0]?.model ?? "?"} (${cpus().length} cores, 1-min load ${loadavg()[0]!.toFixed(2)} at start) · backend ${backend.name}`,
    "",
    `Backend GEMM measured in this run: **${gemmGflops.toFixed(1)} GFLOP/s** (${gm}×${gn} by ${gn}×${gn}); JS float64 Cholesky (the direct solve's kernel): **${(jsRate / 1e9).toFixed(2)}·10⁹ multiply-adds/s**.`,
    "",
    "| layer [out×in] | mask | iterations | converged rows | s/layer | GEMM s | GFLOP/s (GEMMs) | rel. error vs start | direct solve (est.) |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const layer of layers) {
    const { rows, cols } = layer;
    const h = syntheticHessian(cols, cols);
    const rng = createRng(rows + cols);
    const w = new Float32Array(rows * cols);
    for (let i = 0; i < w.length; i++) w[i] = rng.normal() * 0.02;
    for (const [mname, mask] of masks(rows, cols, w)) {
      if (layer.cap === 1 && mname === "2:4") continue; // keep the run under ~10 minutes
      let gemmMs = 0;
      const timed = {
        name: backend.name,
        matmulTransB: async (...a: Parameters<typeof backend.matmulTransB>) => {
          const t = performance.now();
          const y = await backend.matmulTransB(...a);
          gemmMs += performance.now() - t;
          return y;
        },
        gramAccumulate: backend.gramAccumulate.bind(backend),
        colSqNormAccumulate: backend.colSqNormAccumulate.bind(backend),
        invalidate: backend.invalidate.bind(backend),
      };
      const t0 = performance.now();
      const r = await pcgRefit(matrix(rows, cols, w), h, mask, {
        backend: timed,
        ...(layer.cap !== undefined ? { maxIterations: layer.cap } : {}),
      });
      const s = (performance.now() - t0) / 1000;
      const cost = refitCost(rows, cols, mask);
      const directS = cost.directMultiplyAdds / jsRate;
      const gf = (2 * r.gemmMultiplyAdds) / (gemmMs / 1000) / 1e9;
      const capped = layer.cap !== undefined;
      if (!capped) fullIterations = Math.max(fullIterations, r.iterations);
      const fullGemmS = ((gemmMs / 1000) * cost.pcgMultiplyAddsPerIteration) / r.gemmMultiplyAdds;
      const estS = capped ? s + Math.max(0, fullIterations - r.iterations) * fullGemmS : s;
      const row = {
        layer: `${layer.label} ${rows}×${cols}`,
        mask: mname,
        iterations: r.iterations,
        converged: r.convergedRows,
        solvedRows: r.solvedRows,
        seconds: s,
        gemmSeconds: gemmMs / 1000,
        gflops: gf,
        relError: r.reconstructionError / r.startError,
        directSeconds: directS,
        estimatedSeconds: estS,
        capped,
      };
      json.push(row);
      console.log(JSON.stringify(row));
      lines.push(
        `| ${row.layer} | ${mname} | ${r.iterations}${capped ? " (capped)" : ""} | ${r.convergedRows}/${r.solvedRows} | ${s.toFixed(1)}${capped ? ` (→ ${estS.toFixed(0)} at ${fullIterations} it.)` : ""} | ${(gemmMs / 1000).toFixed(1)} | ${gf.toFixed(1)} | ${row.relError.toFixed(4)} | ${directS.toExponential(1)} s |`,
      );
    }
  }
} finally {
  await backend.dispose();
}
const dir = new URL("../bench-results/", import.meta.url);
mkdirSync(dir, { recursive: true });
if (!quick) {
  writeFileSync(new URL("refit.md", dir), `${lines.join("\n")}\n`);
  writeFileSync(new URL("refit.json", dir), `${JSON.stringify(json, null, 2)}\n`);
}
console.log(lines.join("\n"));
