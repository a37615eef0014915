// Deno smoke run (not part of vitest): the library on Deno's own WebGPU (navigator.gpu, wgpu).
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json deno run -A --unstable-webgpu test/deno-smoke.ts
import { createWebGpuBackend, denseMatmulRef, requestGpuDevice, sparseFromDense } from "../src/index.ts";

const { device, adapterInfo } = await requestGpuDevice(navigator.gpu);
const backend = createWebGpuBackend(device);
const m = 9;
const k = 36;
const n = 13;
const x = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i)); // (m, k)
const w = Float32Array.from({ length: n * k }, (_, i) => (i % 3 === 0 ? 0 : Math.cos(i))); // (n, k)
const ref = denseMatmulRef(x, w, m, k, n);
let worst = 0;
for (const format of ["dense", "csr", "sparse-bitmask"] as const) {
  if (format !== "dense") backend.registerSparseWeight(w, sparseFromDense(w, n, k, format));
  const y = await backend.matmulTransB(x, w, m, k, n);
  for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i]! - ref[i]!));
}
console.log(`${adapterInfo.description || adapterInfo.vendor}: max |gpu − ref| = ${worst.toExponential(2)}`);
await backend.dispose();
device.destroy();
if (!(worst < 1e-4)) throw new Error(`mismatch ${worst}`);
