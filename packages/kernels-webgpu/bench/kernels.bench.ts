// Kernel benchmark: dense vs sparse (CSR, sparse-bitmask at 50/70/90 %, 2:4) per shape, on one
// adapter in one run. Writes bench-results/kernels.json and kernels.md.
//
//   npm run bench                 # default shapes (about 2 minutes on SwiftShader)
//   npm run bench -- --quick      # tiny shapes, a smoke run
//   npm run bench -- --full       # tokens 1/128/512 × 1024–4096 features (for a real GPU)
//   add --decode-workgroup        # one-token shapes with the workgroup-per-output decode kernels
//   add --out <dir>               # write the two files there instead of bench-results/ (npm run bench:gpu)
//
// Times are wall-clock per matmulTransB call as a backend user sees them (x upload, dispatch,
// readback; the weight is cached on the GPU after a warm-up call), the best of `reps` calls.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRng } from "@mama-prune/core";
import { createWebGpuBackend } from "../src/backend.ts";
import { createNodeGpu } from "../src/node/index.ts";
import { type SparseWeight, sparseFromDense, sparseNnz } from "../src/sparse-weight.ts";

const args = new Set(process.argv.slice(2));
const outArg = process.argv.indexOf("--out");
if (outArg >= 0 && process.argv[outArg + 1] === undefined)
  throw new Error("--out: expected a folder, got none");
const SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json";
// SwiftShader only when no Vulkan driver is named (VK_DRIVER_FILES is how bench:gpu names the NVIDIA one).
const icd =
  process.env["VK_ICD_FILENAMES"] ??
  (process.env["VK_DRIVER_FILES"] === undefined && existsSync(SWIFTSHADER) ? SWIFTSHADER : undefined);

type Shape = readonly [m: number, k: number, n: number];
const SHAPES: readonly Shape[] = args.has("--quick")
  ? [
      [1, 256, 256],
      [64, 256, 256],
    ]
  : args.has("--full")
    ? [1, 128, 512].flatMap((m) =>
        [
          [1024, 1024],
          [1024, 4096],
          [4096, 1024],
          [4096, 4096],
        ].map(([k, n]) => [m, k!, n!] as const),
      )
    : [
        [1, 1024, 1024],
        [1, 1024, 4096],
        [1, 4096, 4096],
        [128, 1024, 1024],
        [512, 1024, 1024],
      ];
const REPS = args.has("--quick") ? 2 : 3;

type Variant = { label: string; sparsity: number; format: "dense" | SparseWeight["format"] };
const VARIANTS: readonly Variant[] = [
  { label: "dense", sparsity: 0, format: "dense" },
  { label: "csr 50%", sparsity: 0.5, format: "csr" },
  { label: "csr 70%", sparsity: 0.7, format: "csr" },
  { label: "csr 90%", sparsity: 0.9, format: "csr" },
  { label: "bitmask 50%", sparsity: 0.5, format: "sparse-bitmask" },
  { label: "bitmask 70%", sparsity: 0.7, format: "sparse-bitmask" },
  { label: "bitmask 90%", sparsity: 0.9, format: "sparse-bitmask" },
  { label: "2:4", sparsity: 0.5, format: "sparse-24-bitmask" },
];

function weight(k: number, n: number, v: Variant, seed: number): Float32Array {
  const rng = createRng(seed);
  const w = new Float32Array(n * k); // (n, k)
  for (let i = 0; i < w.length; i++) w[i] = rng.normal();
  if (v.format === "sparse-24-bitmask") {
    for (let g = 0; g < w.length; g += 4) {
      const a = rng.int(4);
      w[g + a] = 0;
      w[g + ((a + 1 + rng.int(3)) % 4)] = 0;
    }
  } else if (v.sparsity > 0) {
    for (let i = 0; i < w.length; i++) if (rng.next() < v.sparsity) w[i] = 0;
  }
  return w;
}

function weightBytes(sw: SparseWeight | undefined, k: number, n: number): number {
  if (sw === undefined) return 4 * n * k;
  if (sw.format === "csr") return 4 * (n + 1) + 8 * sw.values.length;
  const mask = n * Math.ceil(k / 8);
  return sw.format === "sparse-bitmask"
    ? 4 * sw.compressed.length + mask + 4 * n
    : 4 * sw.compressed.length + mask;
}

const gpu = await createNodeGpu(icd === undefined ? {} : { vkIcdFilenames: icd });
const adapter = gpu.adapterInfo;
const adapterName =
  adapter.description || `${adapter.vendor} ${adapter.architecture}`.trim() || "unknown adapter";
const decodeKernel = args.has("--decode-workgroup") ? "workgroup" : "row";
const backend = createWebGpuBackend(gpu.device, { name: `webgpu (${adapterName})`, decodeKernel });
process.stderr.write(`adapter: ${adapterName}; features: ${adapter.features.join(", ")}\n`);

interface Row {
  adapter: string;
  kernel: string;
  m: number;
  k: number;
  n: number;
  sparsity: number;
  nnz: number;
  ms: number;
  gflops: number;
  usefulGflops: number;
  gbps: number;
  speedupVsDense: number;
}
const rows: Row[] = [];
const started = Date.now();
const decodeOnly = args.has("--decode-workgroup"); // the option only changes one-token kernels
const outName = decodeOnly
  ? "kernels-decode-workgroup"
  : args.has("--full")
    ? "kernels-full"
    : args.has("--quick")
      ? "kernels-quick"
      : "kernels";
for (const [m, k, n] of SHAPES.filter(([m]) => !decodeOnly || m < 4)) {
  const x = new Float32Array(m * k).map((_, i) => Math.sin(i)); // (m, k)
  // All variants of a shape are timed round-robin (rep 1 of each, rep 2 of each, …) so that a
  // change in machine load hits them alike and the ratios stay comparable.
  const prepared = [];
  for (const v of VARIANTS) {
    const w = weight(k, n, v, k * 7 + n); // (n, k)
    const sw = v.format === "dense" ? undefined : sparseFromDense(w, n, k, v.format);
    if (sw !== undefined) backend.registerSparseWeight(w, sw, v.label);
    await backend.matmulTransB(x, w, m, k, n); // warm-up: pipeline + weight upload
    prepared.push({ v, w, sw, best: Number.POSITIVE_INFINITY });
  }
  for (let r = 0; r < REPS; r++) {
    for (const p of prepared) {
      const t0 = performance.now();
      await backend.matmulTransB(x, p.w, m, k, n);
      p.best = Math.min(p.best, performance.now() - t0);
    }
  }
  const denseMs = prepared[0]!.best;
  for (const { v, w, sw, best } of prepared) {
    backend.invalidate(w);
    const nnz = sw === undefined ? n * k : sparseNnz(sw);
    const bytes = weightBytes(sw, k, n) + 4 * m * k + 4 * m * n;
    const row: Row = {
      adapter: adapterName,
      kernel: v.label,
      m,
      k,
      n,
      sparsity: v.sparsity,
      nnz,
      ms: +best.toFixed(3),
      gflops: +((2 * m * k * n) / best / 1e6).toFixed(3),
      usefulGflops: +((2 * m * nnz) / best / 1e6).toFixed(3),
      gbps: +(bytes / best / 1e6).toFixed(3),
      speedupVsDense: +(denseMs / best).toFixed(3),
    };
    rows.push(row);
    process.stderr.write(
      `${m}×${k}×${n} ${v.label.padEnd(12)} ${row.ms} ms  ${row.gflops} GF/s(dense-eq)  ${row.gbps} GB/s  ×${row.speedupVsDense}\n`,
    );
  }
}
const totalS = (Date.now() - started) / 1000;
await backend.dispose();
await gpu.dispose();

const meta = {
  adapter: adapterName,
  adapterInfo: adapter,
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  loadAverageAtEnd: loadavg().map((v) => +v.toFixed(2)),
  reps: REPS,
  decodeKernel,
  timing: "wall-clock per matmulTransB call (x upload + dispatch + readback), best of reps, weight cached",
  totalSeconds: +totalS.toFixed(1),
};
const outDir =
  outArg >= 0
    ? pathToFileURL(`${resolve(process.argv[outArg + 1]!)}/`)
    : new URL("../bench-results/", import.meta.url);
mkdirSync(outDir, { recursive: true });
writeFileSync(new URL(`${outName}.json`, outDir), `${JSON.stringify({ ...meta, results: rows }, null, 2)}\n`);
const md = [
  `# kernels-webgpu benchmark`,
  "",
  `Adapter: **${adapterName}** · ${meta.date} · Node ${meta.node} · ${meta.cpus} CPUs, load average at end ${meta.loadAverageAtEnd.join(" / ")} · best of ${REPS} · decode kernels "${decodeKernel}" · ${meta.timing}.`,
  "",
  "speedup = dense ms / kernel ms on the same adapter, same shape, same run. GF/s are dense-equivalent (2·m·k·n / t); useful GF/s count only stored values (2·m·nnz / t); GB/s = (weight bytes in its format + x + y) / t.",
  "",
  "| adapter | m×k×n | kernel | ms | GF/s (dense-eq) | useful GF/s | GB/s | speedup vs dense |",
  "|---|---|---|---|---|---|---|---|",
  ...rows.map(
    (r) =>
      `| ${r.adapter} | ${r.m}×${r.k}×${r.n} | ${r.kernel} | ${r.ms} | ${r.gflops} | ${r.usefulGflops} | ${r.gbps} | ${r.speedupVsDense}× |`,
  ),
  "",
  "Speedup of each sparse kernel over dense (same adapter, same run):",
  "",
  `| m×k×n | dense ms | ${VARIANTS.slice(1)
    .map((v) => v.label)
    .join(" | ")} |`,
  `|---|---|${VARIANTS.slice(1)
    .map(() => "---")
    .join("|")}|`,
  ...SHAPES.filter(([m]) => !decodeOnly || m < 4).map(([m, k, n]) => {
    const of = rows.filter((r) => r.m === m && r.k === k && r.n === n);
    return `| ${m}×${k}×${n} | ${of[0]?.ms} | ${of
      .slice(1)
      .map((r) => `${r.speedupVsDense}×`)
      .join(" | ")} |`;
  }),
  "",
].join("\n");
writeFileSync(new URL(`${outName}.md`, outDir), md);
process.stderr.write(
  `wrote ${relative(process.cwd(), fileURLToPath(new URL(`${outName}.json`, outDir)))} and ${outName}.md in ${totalS.toFixed(1)} s\n`,
);
