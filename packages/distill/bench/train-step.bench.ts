// Training-step benchmark of @mama-prune/distill: forward (with tape), loss, backward, clipping and
// AdamW on the bundled stories260K model and on a synthetic Llama of realistic layer shape (hidden
// 1024, MLP 2816, 16 heads, vocab 32000; 2 layers to keep one step within a minute on a shared
// CPU). Writes bench-results/train-step.json and train-step.md. Run: npm run bench (in packages/distill).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { createRng, randomNormal } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";
import { bytesSource, readLlama2c } from "@mama-prune/tensor-io";
import {
  clipGradNorm,
  createAdamW,
  crossEntropyLoss,
  initLlamaParams,
  type LlamaParams,
  paramsFromCheckpoint,
  trainBackward,
  trainForward,
  transposeF32,
} from "../src/index.ts";

const root = new URL("../../../", import.meta.url);
const outDir = new URL("../bench-results/", import.meta.url);

interface Row {
  model: string;
  batch: number;
  seqLen: number;
  steps: number;
  forwardMs: number;
  lossMs: number;
  backwardMs: number;
  optimizerMs: number;
  stepMs: number;
  tokensPerSecond: number;
  tokensPerCpuSecond: number;
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(
  label: string,
  params: LlamaParams,
  batch: number,
  seqLen: number,
  steps: number,
): Promise<Row> {
  const V = params.config.vocabSize;
  const rng = createRng(1);
  const opt = createAdamW(params, { weightDecay: 0.1 });
  const f: number[] = [];
  const l: number[] = [];
  const b: number[] = [];
  const o: number[] = [];
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  for (let s = 0; s < steps; s++) {
    const tokens = Int32Array.from({ length: batch * seqLen }, () => rng.int(V));
    const targets = Int32Array.from({ length: batch * seqLen }, () => rng.int(V));
    const t0 = performance.now();
    const { logits, tape } = await trainForward(params, tokens, batch, seqLen);
    const t1 = performance.now();
    const loss = crossEntropyLoss(logits, targets, batch * seqLen, V);
    const t2 = performance.now();
    const grads = await trainBackward(tape, loss.dLogits);
    const t3 = performance.now();
    clipGradNorm(grads, 1);
    opt.step(grads, 1e-4);
    const t4 = performance.now();
    f.push(t1 - t0);
    l.push(t2 - t1);
    b.push(t3 - t2);
    o.push(t4 - t3);
  }
  const wall = performance.now() - w0;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = cpu.user / 1e6;
  const row: Row = {
    model: label,
    batch,
    seqLen,
    steps,
    forwardMs: median(f),
    lossMs: median(l),
    backwardMs: median(b),
    optimizerMs: median(o),
    stepMs: wall / steps,
    tokensPerSecond: (steps * batch * seqLen) / (wall / 1000),
    tokensPerCpuSecond: (steps * batch * seqLen) / cpuS,
  };
  console.log(JSON.stringify(row));
  return row;
}

const load0 = loadavg()[0]!;
const started = new Date().toISOString();
const rows: Row[] = [];
const bin = new Uint8Array(await readFile(new URL("data/stories260K/stories260K.bin", root)));
const stories = await paramsFromCheckpoint(await readLlama2c(bytesSource(bin, "stories260K.bin")));
for (const [batch, seqLen] of [
  [4, 128],
  [8, 128],
  [4, 256],
] as const) {
  rows.push(await measure("stories260K (dim 64, 5 layers, vocab 512)", stories, batch, seqLen, 3));
}
const synthetic = initLlamaParams({
  hiddenSize: 1024,
  intermediateSize: 2816,
  numLayers: 2,
  numHeads: 16,
  numKvHeads: 16,
  vocabSize: 32000,
  maxPositionEmbeddings: 512,
  seed: 0,
});
rows.push(
  await measure(
    "synthetic Llama (hidden 1024, 2 layers, MLP 2816, vocab 32000, 16 heads)",
    synthetic,
    1,
    128,
    1,
  ),
);
// ---- Backward products: transposed copies vs the matmul itself ----
interface TransposeRow {
  shape: string;
  transposeMs: number;
  matmulMs: number;
  share: number;
}
const transposeRows: TransposeRow[] = [];
{
  const be = createCpuBackend();
  for (const [m, k, n] of [
    [512, 64, 172],
    [512, 172, 64],
    [512, 64, 512],
    [128, 1024, 2816],
    [128, 1024, 32000],
  ] as const) {
    const x = randomNormal(m * k, 1);
    const w = randomNormal(n * k, 2);
    const dy = randomNormal(m * n, 3);
    const tT: number[] = [];
    const tM: number[] = [];
    for (let r = 0; r < 3; r++) {
      const a = performance.now();
      const wT = transposeF32(w, n, k);
      const dyT = transposeF32(dy, m, n);
      const xT = transposeF32(x, m, k);
      const b = performance.now();
      await be.matmulTransB(dy, wT, m, n, k); // dx = dy·w
      await be.matmulTransB(dyT, xT, n, m, k); // dw = dyᵀ·x
      const c = performance.now();
      tT.push(b - a);
      tM.push(c - b);
    }
    const transposeMs = median(tT);
    const matmulMs = median(tM);
    transposeRows.push({
      shape: `${m}×${k}×${n}`,
      transposeMs,
      matmulMs,
      share: transposeMs / (transposeMs + matmulMs),
    });
    console.log(JSON.stringify(transposeRows.at(-1)));
  }
}
const load1 = loadavg()[0]!;
await mkdir(outDir, { recursive: true });
const meta = {
  started,
  node: process.version,
  cpus: cpus().length,
  loadAverageStart: load0,
  loadAverageEnd: load1,
  peakRssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  backend:
    "model package CPU backend (plain JS, single thread); backward matmuls via matmulTransB on transposed copies",
};
await writeFile(
  new URL("train-step.json", outDir),
  `${JSON.stringify({ meta, rows, transposeRows }, null, 2)}\n`,
);
const md = [
  "# Training-step benchmark (@mama-prune/distill, plain-JS backend)",
  "",
  `Run ${started}, Node ${process.version}, single thread, ${meta.cpus} CPUs shared with other jobs: 1-min load average ${load0.toFixed(2)} at start, ${load1.toFixed(2)} at the end. Wall-clock numbers are contended; "tokens per CPU-s" divides by this process's user CPU time. Step = forward with tape + cross-entropy + backward + clipping + AdamW; medians of the steps; random tokens.`,
  "",
  "| model | batch × seqLen | steps | forward ms | loss ms | backward ms | optimizer ms | step ms (wall) | tokens/s (wall) | tokens per CPU-s |",
  "|---|---|---|---|---|---|---|---|---|---|",
  ...rows.map(
    (r) =>
      `| ${r.model} | ${r.batch} × ${r.seqLen} | ${r.steps} | ${r.forwardMs.toFixed(0)} | ${r.lossMs.toFixed(0)} | ${r.backwardMs.toFixed(0)} | ${r.optimizerMs.toFixed(0)} | ${r.stepMs.toFixed(0)} | ${r.tokensPerSecond.toFixed(1)} | ${r.tokensPerCpuSecond.toFixed(1)} |`,
  ),
  "",
  "Backward products of one linear (x [m, k], w [n, k], dy [m, n]): the three transposed copies (wᵀ, dyᵀ, xᵀ) against the two matmulTransB calls dx = dy·w and dw = dyᵀ·x (medians of 3):",
  "",
  "| m×k×n | transposes ms | matmuls ms | transpose share |",
  "|---|---|---|---|",
  ...transposeRows.map(
    (r) =>
      `| ${r.shape} | ${r.transposeMs.toFixed(2)} | ${r.matmulMs.toFixed(1)} | ${(100 * r.share).toFixed(1)} % |`,
  ),
  "",
];
await writeFile(new URL("train-step.md", outDir), md.join("\n"));
console.log(md.join("\n"));
