/**
 * Benchmark: GFLOP/s of the wasm kernels (one thread, all threads) beside a plain-JS 4×4
 * register-tiled matmul measured in the same run. Writes bench-results/matmul.json and .md.
 *
 *   npm run bench                     # all shapes
 *   npm run bench -- --quick          # two shapes, fewer runs
 *   npm run bench -- --threads 1,2,4  # thread counts of the threaded backend (default: all cores)
 *   npm run bench -- --out DIR        # where to write the results
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRng } from "@mama-prune/core";
import { createWasmBackend, type WasmBackend } from "../src/index.ts";
import { createWasmBackendNode } from "../src/node/index.ts";

const args = process.argv.slice(2);
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const threadCounts = (argValue("--threads") ?? String(Math.min(availableParallelism(), 8)))
  .split(",")
  .map(Number);
const outDir = argValue("--out") ?? join(dirname(fileURLToPath(import.meta.url)), "..", "bench-results");

const SHAPES: readonly (readonly [number, number, number])[] = quick
  ? [
      [128, 1024, 1024],
      [512, 1024, 1024],
    ]
  : [
      [128, 1024, 1024],
      [512, 1024, 1024],
      [128, 1024, 4096],
      [512, 1024, 4096],
      [128, 4096, 1024],
      [512, 4096, 1024],
    ];
const GRAM_SHAPES: readonly (readonly [number, number])[] = quick
  ? [[512, 1024]]
  : [
      [512, 1024],
      [512, 4096],
    ];
const RUNS = quick ? 3 : 5;
const JS_RUNS = quick ? 1 : 3;

function uniform(length: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const a = new Float32Array(length); // (length,)
  for (let i = 0; i < length; i++) a[i] = 2 * rng.next() - 1;
  return a;
}

/** Plain-JS reference: 4×4 C block in 16 locals over rows of x and w, K blocked by 256, N by 64. */
function jsMatmul4x4(x: Float32Array, w: Float32Array, m: number, k: number, n: number): Float32Array {
  if (m % 4 || n % 4) throw new RangeError("jsMatmul4x4: m and n must be multiples of 4");
  const y = new Float32Array(m * n); // (m, n)
  const KB = 256;
  const NB = 64;
  for (let k0 = 0; k0 < k; k0 += KB) {
    const k1 = Math.min(k, k0 + KB);
    for (let j0 = 0; j0 < n; j0 += NB) {
      const j1 = Math.min(n, j0 + NB);
      for (let i = 0; i < m; i += 4) {
        const x0 = i * k;
        const x1 = x0 + k;
        const x2 = x1 + k;
        const x3 = x2 + k;
        for (let j = j0; j < j1; j += 4) {
          const w0 = j * k;
          const w1 = w0 + k;
          const w2 = w1 + k;
          const w3 = w2 + k;
          let c00 = 0,
            c01 = 0,
            c02 = 0,
            c03 = 0,
            c10 = 0,
            c11 = 0,
            c12 = 0,
            c13 = 0;
          let c20 = 0,
            c21 = 0,
            c22 = 0,
            c23 = 0,
            c30 = 0,
            c31 = 0,
            c32 = 0,
            c33 = 0;
          for (let t = k0; t < k1; t++) {
            const a0 = x[x0 + t] as number,
              a1 = x[x1 + t] as number;
            const a2 = x[x2 + t] as number,
              a3 = x[x3 + t] as number;
            const b0 = w[w0 + t] as number,
              b1 = w[w1 + t] as number;
            const b2 = w[w2 + t] as number,
              b3 = w[w3 + t] as number;
            c00 += a0 * b0;
            c01 += a0 * b1;
            c02 += a0 * b2;
            c03 += a0 * b3;
            c10 += a1 * b0;
            c11 += a1 * b1;
            c12 += a1 * b2;
            c13 += a1 * b3;
            c20 += a2 * b0;
            c21 += a2 * b1;
            c22 += a2 * b2;
            c23 += a2 * b3;
            c30 += a3 * b0;
            c31 += a3 * b1;
            c32 += a3 * b2;
            c33 += a3 * b3;
          }
          const r0 = i * n + j,
            r1 = r0 + n,
            r2 = r1 + n,
            r3 = r2 + n;
          y[r0] = (y[r0] as number) + c00;
          y[r0 + 1] = (y[r0 + 1] as number) + c01;
          y[r0 + 2] = (y[r0 + 2] as number) + c02;
          y[r0 + 3] = (y[r0 + 3] as number) + c03;
          y[r1] = (y[r1] as number) + c10;
          y[r1 + 1] = (y[r1 + 1] as number) + c11;
          y[r1 + 2] = (y[r1 + 2] as number) + c12;
          y[r1 + 3] = (y[r1 + 3] as number) + c13;
          y[r2] = (y[r2] as number) + c20;
          y[r2 + 1] = (y[r2 + 1] as number) + c21;
          y[r2 + 2] = (y[r2 + 2] as number) + c22;
          y[r2 + 3] = (y[r2 + 3] as number) + c23;
          y[r3] = (y[r3] as number) + c30;
          y[r3 + 1] = (y[r3 + 1] as number) + c31;
          y[r3 + 2] = (y[r3 + 2] as number) + c32;
          y[r3 + 3] = (y[r3 + 3] as number) + c33;
        }
      }
    }
  }
  return y;
}

async function timeIt(runs: number, f: () => unknown): Promise<number[]> {
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  return ms;
}
/**
 * Run `f(b)` for every backend b, `runs` rounds, alternating backends so that each sees the same
 * background load. Also returns the process CPU time / wall time of each backend's runs ("cores
 * actually obtained"; the calling thread and its workers all count).
 */
async function alternate(
  runs: number,
  count: number,
  f: (b: number) => Promise<unknown>,
): Promise<{ times: number[][]; cores: number[] }> {
  const times: number[][] = Array.from({ length: count }, () => []);
  const cpu = new Array<number>(count).fill(0);
  const wall = new Array<number>(count).fill(0);
  for (let r = 0; r < runs; r++) {
    for (let b = 0; b < count; b++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await f(b);
      const dt = performance.now() - t0;
      const c = process.cpuUsage(c0);
      times[b]?.push(dt);
      cpu[b] = (cpu[b] as number) + (c.user + c.system) / 1000;
      wall[b] = (wall[b] as number) + dt;
    }
  }
  return { times, cores: cpu.map((v, b) => Math.round((v / (wall[b] as number)) * 100) / 100) };
}
const median = (a: number[]): number => {
  const s = [...a].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)] as number;
};
const gflops = (flops: number, ms: number): number => Math.round((flops / ms / 1e6) * 100) / 100;
const relErr = (a: Float32Array, b: Float32Array): number => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs((a[i] as number) - (b[i] as number)));
    den = Math.max(den, Math.abs(b[i] as number));
  }
  return num / den;
};

interface Row {
  kernel: string;
  shape: string;
  backend: string;
  threads: number;
  medianMs: number;
  gflops: number;
  runsMs: number[];
  firstCallMs?: number;
  maxRelErrVsJs?: number;
  bestGflops?: number;
  /** Process CPU time / wall time during the timed runs: how many cores the run really got. */
  coresUsed?: number;
  /** 1-minute load average when the row was measured (2 cores: > 2 means contended). */
  load1: number;
}

const rows: Row[] = [];
const addRow = (r: Omit<Row, "load1">): void => {
  rows.push({ ...r, load1: loadavg()[0] as number });
};
const loadBefore = loadavg();
const started = new Date().toISOString();
const log = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

const backends: { backend: WasmBackend; threads: number }[] = [
  { backend: await createWasmBackend(), threads: 1 },
];
for (const t of threadCounts) {
  if (t > 1) backends.push({ backend: await createWasmBackendNode({ threads: t }), threads: t });
}

for (const [m, k, n] of SHAPES) {
  const shape = `${m}x${k}x${n}`;
  const flops = 2 * m * k * n;
  const x = uniform(m * k, 1); // (m, k)
  const w = uniform(n * k, 2); // (n, k)
  const jsOut = jsMatmul4x4(x, w, m, k, n);
  const jsMs = await timeIt(JS_RUNS, () => jsMatmul4x4(x, w, m, k, n));
  addRow({
    kernel: "matmulTransB",
    shape,
    backend: "js 4x4 tile",
    threads: 1,
    medianMs: median(jsMs),
    gflops: gflops(flops, median(jsMs)),
    runsMs: jsMs,
  });
  log(`${shape} js4x4 ${gflops(flops, median(jsMs))} GF/s`);
  // Warm up (packs the weight), then alternate the backends run by run so that each sees the same
  // background load on a shared machine.
  const firsts: { y: Float32Array; firstCallMs: number }[] = [];
  for (const { backend } of backends) {
    backend.clearCache();
    const t0 = performance.now();
    const y = await backend.matmulTransB(x, w, m, k, n);
    firsts.push({ y, firstCallMs: performance.now() - t0 });
  }
  const { times, cores } = await alternate(RUNS, backends.length, (b) =>
    (backends[b] as { backend: WasmBackend }).backend.matmulTransB(x, w, m, k, n),
  );
  for (const [b, { backend, threads }] of backends.entries()) {
    const ms = times[b] as number[];
    const first = firsts[b] as { y: Float32Array; firstCallMs: number };
    addRow({
      kernel: "matmulTransB",
      shape,
      backend: backend.name,
      threads,
      medianMs: median(ms),
      gflops: gflops(flops, median(ms)),
      bestGflops: gflops(flops, Math.min(...ms)),
      runsMs: ms,
      coresUsed: cores[b] as number,
      firstCallMs: first.firstCallMs,
      maxRelErrVsJs: relErr(first.y, jsOut),
    });
    log(
      `${shape} ${backend.name} ${gflops(flops, median(ms))} GF/s (best ${gflops(flops, Math.min(...ms))}, first call ${first.firstCallMs.toFixed(1)} ms)`,
    );
    backend.clearCache();
  }
}

for (const [m, k] of GRAM_SHAPES) {
  const shape = `${m}x${k}`;
  const x = uniform(m * k, 3);
  const acc = new Float64Array(k * k); // (k, k)
  const flops = 2 * m * k * k; // dense-equivalent (the kernel computes only the upper half)
  for (const { backend } of backends) await backend.gramAccumulate(x, m, k, acc);
  const { times, cores } = await alternate(RUNS, backends.length, (b) =>
    (backends[b] as { backend: WasmBackend }).backend.gramAccumulate(x, m, k, acc),
  );
  for (const [b, { backend, threads }] of backends.entries()) {
    const ms = times[b] as number[];
    addRow({
      kernel: "gramAccumulate",
      shape,
      backend: backend.name,
      threads,
      medianMs: median(ms),
      gflops: gflops(flops, median(ms)),
      bestGflops: gflops(flops, Math.min(...ms)),
      runsMs: ms,
      coresUsed: cores[b] as number,
    });
    log(`gram ${shape} ${backend.name} ${gflops(flops, median(ms))} GF/s dense-equivalent`);
  }
  // JS reference Gram: symmetric, float64 accumulation, 1×4 unrolled.
  const jsMs = await timeIt(1, () => {
    const a = new Float64Array(k * k);
    for (let i = 0; i < m; i++) {
      const r = i * k;
      for (let p = 0; p < k; p++) {
        const v = x[r + p] as number;
        const row = p * k;
        for (let q = p; q < k; q++) a[row + q] = (a[row + q] as number) + v * (x[r + q] as number);
      }
    }
  });
  addRow({
    kernel: "gramAccumulate",
    shape,
    backend: "js (upper triangle, f64)",
    threads: 1,
    medianMs: median(jsMs),
    gflops: gflops(flops, median(jsMs)),
    runsMs: jsMs,
  });
  log(`gram ${shape} js ${gflops(flops, median(jsMs))} GF/s dense-equivalent`);
}

{
  const [m, k] = [512, 4096];
  const shape = `${m}x${k}`;
  const x = uniform(m * k, 4);
  const acc = new Float64Array(k);
  const flops = 2 * m * k;
  const { backend } = backends[0] as { backend: WasmBackend };
  const ms = await timeIt(RUNS, () => backend.colSqNormAccumulate(x, m, k, acc));
  addRow({
    kernel: "colSqNormAccumulate",
    shape,
    backend: backend.name,
    threads: 1,
    medianMs: median(ms),
    gflops: gflops(flops, median(ms)),
    runsMs: ms,
  });
  const jsMs = await timeIt(RUNS, () => {
    for (let i = 0; i < m; i++)
      for (let j = 0; j < k; j++) acc[j] = (acc[j] as number) + (x[i * k + j] as number) ** 2;
  });
  addRow({
    kernel: "colSqNormAccumulate",
    shape,
    backend: "js",
    threads: 1,
    medianMs: median(jsMs),
    gflops: gflops(flops, median(jsMs)),
    runsMs: jsMs,
  });
  log(`colsq ${shape} wasm ${median(ms).toFixed(2)} ms, js ${median(jsMs).toFixed(2)} ms`);
}

for (const { backend } of backends) await backend.dispose();

const loadAfter = loadavg();
const result = {
  started,
  finished: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: availableParallelism(),
  loadavgBefore: loadBefore,
  loadavgAfter: loadAfter,
  note: "median of runs after one warm-up call (the warm-up packs the weight; its time is firstCallMs). GFLOP/s = 2·m·k·n / time; Gram rows count the dense 2·m·k² although only the upper half is computed.",
  rows,
};
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "matmul.json"), `${JSON.stringify(result, null, 2)}\n`);

const shapes = [...new Set(rows.filter((r) => r.kernel === "matmulTransB").map((r) => r.shape))];
const names = [...new Set(rows.filter((r) => r.kernel === "matmulTransB").map((r) => r.backend))];
const cell = (kernel: string, shape: string, name: string): Row | undefined =>
  rows.find((r) => r.kernel === kernel && r.shape === shape && r.backend === name);
const fmt = (r: Row | undefined): string =>
  r === undefined
    ? "–"
    : r.bestGflops === undefined
      ? r.gflops.toFixed(1)
      : `${r.gflops.toFixed(1)} (${r.bestGflops.toFixed(1)})${r.coresUsed === undefined ? "" : ` @${r.coresUsed.toFixed(2)}c`}`;
/** Parallel efficiency on the CPU actually obtained: (GF/s per core of xN) / (GF/s per core of x1). */
const perCore = (s: string): number => {
  const one = cell("matmulTransB", s, wasm1);
  const all = cell("matmulTransB", s, wasmAll);
  if (!one?.coresUsed || !all?.coresUsed) return Number.NaN;
  return all.gflops / all.coresUsed / (one.gflops / one.coresUsed);
};
const wasm1 = backends[0]?.backend.name ?? "";
const wasmAll = backends[backends.length - 1]?.backend.name ?? "";
let md = `# compute-wasm benchmark\n\n${result.started} · Node ${result.node} · ${result.cpu} · ${result.cores} cores · load average before ${loadBefore.map((v) => v.toFixed(2)).join(" ")}, after ${loadAfter.map((v) => v.toFixed(2)).join(" ")}\n\n`;
md += `## matmulTransB (GFLOP/s: median, (best), @cores obtained = process CPU time / wall time; ${RUNS} runs per backend, alternated; JS median of ${JS_RUNS})\n\n| shape m×k×n | ${names.join(" | ")} | ${wasm1} / js | ${wasmAll} / ${wasm1} | per core obtained: ${wasmAll} / ${wasm1} | max load1 |\n|---|${names.map(() => "---|").join("")}---|---|---|---|\n`;
for (const s of shapes) {
  const js = cell("matmulTransB", s, "js 4x4 tile")?.gflops ?? Number.NaN;
  const one = cell("matmulTransB", s, wasm1)?.gflops ?? Number.NaN;
  const all = cell("matmulTransB", s, wasmAll)?.gflops ?? Number.NaN;
  md += `| ${s} | ${names.map((nm) => fmt(cell("matmulTransB", s, nm))).join(" | ")} | ${(one / js).toFixed(1)}× | ${(all / one).toFixed(2)}× | ${perCore(s).toFixed(2)} | ${Math.max(...rows.filter((r) => r.shape === s).map((r) => r.load1)).toFixed(1)} |\n`;
}
md += `\n## gramAccumulate (dense-equivalent GFLOP/s) and colSqNormAccumulate (ms)\n\n| kernel | shape | backend | median ms | GFLOP/s (best) | cores obtained | load1 |\n|---|---|---|---|---|---|---|\n`;
for (const r of rows.filter((q) => q.kernel !== "matmulTransB")) {
  md += `| ${r.kernel} | ${r.shape} | ${r.backend} | ${r.medianMs.toFixed(2)} | ${r.gflops.toFixed(2)}${r.bestGflops === undefined ? "" : ` (${r.bestGflops.toFixed(2)})`} | ${r.coresUsed?.toFixed(2) ?? "–"} | ${r.load1.toFixed(1)} |\n`;
}
const errs = rows.filter((r) => r.maxRelErrVsJs !== undefined).map((r) => r.maxRelErrVsJs as number);
md += `\nLargest |wasm − js| / max|js| over all matmuls: ${Math.max(...errs).toExponential(2)}. First calls (packing the weight) are in matmul.json (firstCallMs).\n`;
writeFileSync(join(outDir, "matmul.md"), md);
log(md);
