// Training-step time with the plain-JS backend vs @mama-prune/compute-wasm's WebAssembly SIMD
// backend (one thread): the training engine sends every forward and backward product through
// ComputeBackend.matmulTransB, so a faster backend speeds training without code changes.
// Writes results/distill-backends.md.   npm run backends -w @mama-prune-examples/distill
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cpuUsage } from "node:process";
import { createWasmBackend } from "@mama-prune/compute-wasm";
import type { ComputeBackend } from "@mama-prune/core";
import { createRng } from "@mama-prune/core";
import {
  clipGradNorm,
  createAdamW,
  crossEntropyLoss,
  initLlamaParams,
  type LlamaParams,
  trainBackward,
  trainForward,
} from "@mama-prune/distill";
import { createCpuBackend } from "@mama-prune/model";
import { loadBundled, RESULTS } from "./common.ts";

async function steps(
  params: LlamaParams,
  backend: ComputeBackend,
  batch: number,
  seqLen: number,
  n: number,
): Promise<{ ms: number; cpuMs: number }> {
  const V = params.config.vocabSize;
  const rng = createRng(3);
  const opt = createAdamW(params);
  const c0 = cpuUsage();
  const t0 = performance.now();
  for (let s = 0; s < n; s++) {
    const tokens = Int32Array.from({ length: batch * seqLen }, () => rng.int(V));
    const { logits, tape } = await trainForward(params, tokens, batch, seqLen, { backend });
    const grads = await trainBackward(tape, crossEntropyLoss(logits, tokens, batch * seqLen, V).dLogits);
    clipGradNorm(grads, 1);
    opt.step(grads, 1e-5);
  }
  return { ms: (performance.now() - t0) / n, cpuMs: cpuUsage(c0).user / 1000 / n };
}

const { params } = await loadBundled();
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
const wasm = await createWasmBackend();
const js = createCpuBackend();
const lines: string[] = [];
for (const [label, p, batch, seqLen, n] of [
  ["stories260K", params, 4, 128, 4],
  ["synthetic Llama (hidden 1024, 2 layers, MLP 2816, vocab 32000)", synthetic, 1, 128, 1],
] as const) {
  await steps(p, js, batch, seqLen, 1); // warm-up
  const a = await steps(p, js, batch, seqLen, n);
  await steps(p, wasm, batch, seqLen, 1);
  const b = await steps(p, wasm, batch, seqLen, n);
  const line = `| ${label} | ${batch} × ${seqLen} | ${a.ms.toFixed(0)} (${a.cpuMs.toFixed(0)} CPU) | ${b.ms.toFixed(0)} (${b.cpuMs.toFixed(0)} CPU) | ${(a.cpuMs / b.cpuMs).toFixed(2)}× |`;
  console.log(line);
  lines.push(line);
}
await wasm.dispose?.();
const md = [
  "# Training step (forward + CE + backward + AdamW) by compute backend",
  "",
  `Run ${new Date().toISOString()}, Node ${process.version}, one thread, shared 2-core machine (CPU ms = this process's user CPU time per step; the stable number). Mean of the timed steps after one warm-up step; random tokens.`,
  "",
  "| model | batch × seqLen | js backend ms/step | wasm-simd backend ms/step | speed-up (CPU) |",
  "|---|---|---|---|---|",
  ...lines,
  "",
].join("\n");
await writeFile(join(RESULTS, "distill-backends.md"), md);
console.log(md);
