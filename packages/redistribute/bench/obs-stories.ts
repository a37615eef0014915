// stories260K's real layers through sparsegpt's backend path with the width threshold lowered to 0
// (its layers are 64 and 172 wide, below the default 512, so the pipeline itself never takes it).
// Hessians: captured from the pipeline's SparseGPT 50 % prune with the table-2 calibration (16 × 256).
// Run: npx tsx --conditions @mama-prune/source bench/obs-stories.ts. Node-only script.

import { readFile } from "node:fs/promises";
import { createWasmBackendNode } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, matrix } from "@mama-prune/core";
import { createLlama2cTokenizer, LINEAR_NAMES, loadLlama } from "@mama-prune/model";
import { calibrationWindows, prune, splitCalibrationText } from "@mama-prune/pipeline";
import { readLlama2c, readLlama2cTokenizer } from "@mama-prune/tensor-io";
import { upperCholeskyOfInverseBlocked } from "../src/blocked-cholesky.ts";
import { reconstructionError, sparsegpt, upperCholeskyOfInverse } from "../src/index.ts";

const root = new URL("../../../", import.meta.url);
const bytes = async (p: string): Promise<Uint8Array> => new Uint8Array(await readFile(new URL(p, root)));
const tok = createLlama2cTokenizer(readLlama2cTokenizer(await bytes("data/stories260K/tok512.bin"), 512));
const text = await readFile(new URL("data/tinystories/tinystories_val.txt", root), "utf8");
const cal = calibrationWindows(
  tok.encode(splitCalibrationText(text).calibration, { bos: false, eos: false }),
  {
    nsamples: 16,
    seqlen: 256,
    seed: 0,
  },
);
const ckpt = await readLlama2c(await bytes("data/stories260K/stories260K.bin"), "stories260K.bin");
const wasm = await createWasmBackendNode({ threads: 2 });
const grams: Float64Array[] = [];
const capture: ComputeBackend = {
  name: wasm.name,
  matmulTransB: wasm.matmulTransB.bind(wasm),
  colSqNormAccumulate: wasm.colSqNormAccumulate.bind(wasm),
  invalidate: wasm.invalidate.bind(wasm),
  async gramAccumulate(x, m, k, acc) {
    if (!grams.includes(acc)) grams.push(acc);
    return wasm.gramAccumulate(x, m, k, acc);
  },
};
await prune({ checkpoint: ckpt, backend: capture, method: "sparsegpt", sparsity: 0.5, calibration: cal });
const dense = await loadLlama(ckpt);
const inputOf = {
  q_proj: 0,
  k_proj: 0,
  v_proj: 0,
  o_proj: 1,
  gate_proj: 2,
  up_proj: 2,
  down_proj: 3,
} as const;
let worstU = 0;
let worstFixed = 0;
let worstAdaptive = 0;
let flips = 0;
let total = 0;
for (let l = 0; l < dense.config.numLayers; l++) {
  for (const name of LINEAR_NAMES) {
    const [rows, cols] = dense.linearShape(l, name);
    const W = matrix(rows, cols, new Float32Array(dense.getLinearWeight(l, name)));
    const h = grams[4 * l + inputOf[name]]!;
    // U of the damped H: blocked (leaf 16) vs float64
    let mean = 0;
    for (let j = 0; j < cols; j++) mean += (h[j * cols + j]! || 1) / cols;
    const hd = new Float64Array(h);
    for (let j = 0; j < cols; j++) hd[j * cols + j] = (hd[j * cols + j]! || 1) + 0.01 * mean;
    const ref = upperCholeskyOfInverse(hd, cols);
    const ub = new Float64Array(hd);
    const p = await upperCholeskyOfInverseBlocked(ub, cols, wasm, 16);
    if (ref.ok && p < 0) {
      let num = 0;
      let den = 0;
      for (let i = 0; i < ub.length; i++) {
        num += (ub[i]! - ref.upper[i]!) ** 2;
        den += ref.upper[i]! ** 2;
      }
      worstU = Math.max(worstU, Math.sqrt(num / den));
    } else console.log(`${l}.${name}: factor ok js=${ref.ok} blocked pivot=${p}`);
    for (const sparsity of [0.5, { n: 2, m: 4 }] as const) {
      const js = await sparsegpt(W, h, { sparsity });
      const be = await sparsegpt(W, h, { sparsity, backend: wasm, backendMinCols: 0 });
      for (let i = 0; i < js.mask.length; i++) if (js.mask[i] !== be.mask[i]) flips++;
      total += js.mask.length;
      const e0 = reconstructionError(W, js.weight, h);
      worstAdaptive = Math.max(worstAdaptive, Math.abs(reconstructionError(W, be.weight, h) / e0 - 1));
      const fjs = await sparsegpt(W, h, { mask: js.mask });
      const fbe = await sparsegpt(W, h, { mask: js.mask, backend: wasm, backendMinCols: 0 });
      const f0 = reconstructionError(W, fjs.weight, h);
      worstFixed = Math.max(worstFixed, Math.abs(reconstructionError(W, fbe.weight, h) / f0 - 1));
    }
  }
}
await wasm.dispose();
console.log(
  JSON.stringify({
    layers: dense.config.numLayers,
    worstU,
    worstFixed,
    worstAdaptive,
    flips,
    total,
    flipFraction: flips / total,
  }),
);
