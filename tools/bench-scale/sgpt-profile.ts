// SparseGPT 0.5 vs 2:4 on one wide problem (wasm backend), for `node --cpu-prof` (issue 12, item 3):
//   node --cpu-prof --cpu-prof-dir <dir> --conditions @mama-prune/source --import tsx tools/bench-scale/sgpt-profile.ts [rows] [cols] [tokens]
import { createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import { createRng, matrix } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";
import { sparsegpt } from "@mama-prune/redistribute";

const [rows = 1024, cols = 2048, T = 1024] = process.argv.slice(2).map(Number);
const backend = await createDefaultCpuBackend({ fallback: createCpuBackend });
const rng = createRng(5);
const x = Float32Array.from({ length: T * cols }, () => rng.normal());
const gram = new Float64Array(cols * cols);
await backend.gramAccumulate(x, T, cols, gram);
const w = matrix(
  rows,
  cols,
  Float32Array.from({ length: rows * cols }, () => 0.02 * rng.normal()),
);
for (const level of [0.5, { n: 2, m: 4 }, 0.5, { n: 2, m: 4 }] as const) {
  const t = performance.now();
  const r = await sparsegpt(w, gram, { sparsity: level, backend });
  const s = r.diagnostics.stageMs;
  console.log(
    `${typeof level === "number" ? level : "2:4"}: ${(performance.now() - t).toFixed(0)} ms (factor ${s.factor.toFixed(0)}, sweep ${s.sweep.toFixed(0)}, lazy ${s.lazy.toFixed(0)})`,
  );
}
await backend.dispose();
