// Plain mul+add vs relaxed-SIMD FMA matmul kernel, one thread, alternated in ONE process so the ratio
// is meaningful on a shared machine; rates per wall second and per CPU second obtained, plus the
// accuracy of each against a float64 reference. Needs relaxed SIMD: on Node 20 run
//   node --experimental-wasm-relaxed-simd --import tsx bench/fma.bench.ts
// Writes bench-results/fma.md.
import { mkdir, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { createWasmBackend, type WasmBackend } from "../src/backend.ts";
import { isRelaxedSimdSupported } from "../src/simd.ts";
import { maxRelError, refMatmul, uniform } from "../test/reference.ts";

if (!isRelaxedSimdSupported()) {
  console.error("relaxed SIMD is not available: run with node --experimental-wasm-relaxed-simd (Node 20)");
  process.exit(1);
}
const plain = await createWasmBackend();
const fma = await createWasmBackend({ relaxedFma: true });
const SHAPES = [
  [128, 1024, 1024],
  [512, 1024, 2816],
  [128, 4096, 1024],
] as const;
const ROUNDS = 8;
const median = (a: number[]): number => [...a].sort((p, q) => p - q)[a.length >> 1]!;
let md = `# wasm matmul: mul+add vs relaxed-SIMD FMA (one thread, one run, ${ROUNDS} alternated rounds of ≥ 0.5 s)\n\n`;
md += `Node ${process.version}, load1 at start ${loadavg()[0]!.toFixed(1)}. GFLOP/s median (best); /cpu = per CPU-second obtained.\n\n`;
md +=
  "| m×k×n | mul+add | fma | fma / mul+add (wall) | mul+add /cpu | fma /cpu | fma / mul+add (cpu) | max rel err mul+add · fma |\n|---|---|---|---|---|---|---|---|\n";
for (const [m, k, n] of SHAPES) {
  const x = uniform(m * k, 1); // (m, k)
  const w = uniform(n * k, 2); // (n, k)
  const out = new Float32Array(m * n); // (m, n)
  const wall: Record<string, number[]> = { plain: [], fma: [] };
  const cpu: Record<string, number[]> = { plain: [], fma: [] };
  const err: Record<string, number> = {};
  const ref = m * k * n <= 2 ** 30 ? refMatmul(x, w, m, k, n) : undefined;
  for (const [label, b] of [
    ["plain", plain],
    ["fma", fma],
  ] as [string, WasmBackend][]) {
    await b.matmulTransB(x, w, m, k, n, { out });
    if (ref) err[label] = maxRelError(out, ref.y, ref.scale);
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const [label, b] of [
      ["plain", plain],
      ["fma", fma],
    ] as [string, WasmBackend][]) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      let reps = 0;
      while (performance.now() - t0 < 500) {
        await b.matmulTransB(x, w, m, k, n, { out });
        reps++;
      }
      const s = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      const flops = 2 * m * k * n * reps;
      wall[label]!.push(flops / s / 1e9);
      cpu[label]!.push(flops / ((c.user + c.system) / 1e6) / 1e9);
    }
  }
  const f = (a: number[]): string => `${median(a).toFixed(1)} (${Math.max(...a).toFixed(1)})`;
  md += `| ${m}×${k}×${n} | ${f(wall["plain"]!)} | ${f(wall["fma"]!)} | ${(median(wall["fma"]!) / median(wall["plain"]!)).toFixed(2)} | ${f(cpu["plain"]!)} | ${f(cpu["fma"]!)} | ${(median(cpu["fma"]!) / median(cpu["plain"]!)).toFixed(2)} | ${err["plain"]?.toExponential(1) ?? "–"} · ${err["fma"]?.toExponential(1) ?? "–"} |\n`;
  console.log(md.split("\n").at(-2));
}
md += `\nload1 at end ${loadavg()[0]!.toFixed(1)} (2 cores shared by several sessions).\n`;
await mkdir(new URL("../bench-results/", import.meta.url), { recursive: true });
await writeFile(new URL("../bench-results/fma.md", import.meta.url), md);
await plain.dispose();
await fma.dispose();
