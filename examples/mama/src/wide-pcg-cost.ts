// The wide path's refits at 1B shapes on synthetic correlated inputs: the intermediate refit (PCG,
// 3 iterations), then the final refit warm-started from it at tolerances 1e-8 (the default), 1e-6 and
// 1e-5: iterations, seconds and the reconstruction error against the default's. H = D·C·D with C =
// AR(1) (ρ = 0.95) + a rank-8 part + 0.05·I and column scales D over two decades (outlier channels).
// Run: npx tsx --conditions @mama-prune/source examples/mama/src/wide-pcg-cost.ts [rows×cols,]
import { matrix } from "@mama-prune/core";
import { fullInverseUpper } from "@mama-prune/pipeline";
import { pcgRefit, reconstructionError } from "@mama-prune/redistribute";
import { backend } from "./common.ts";

const shapes = (process.argv[2] ?? "2048x2048")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);
let seed = 99;
const rnd = (): number => {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
};
const be = await backend();
console.log("| shape | step | tolerance | iterations | seconds | error / error at 1e-8 |");
console.log("|---|---|---:|---:|---:|---:|");
for (const [rows, cols] of shapes) {
  const d = Float64Array.from({ length: cols }, () => 10 ** (2 * rnd() - 1));
  const low = Array.from({ length: 8 }, () => Float64Array.from({ length: cols }, () => rnd() - 0.5));
  const h = new Float64Array(cols * cols); // (cols, cols)
  for (let i = 0; i < cols; i++) {
    for (let j = i; j < cols; j++) {
      let c = 0.95 ** (j - i) + (i === j ? 0.05 : 0);
      for (const v of low) c += v[i]! * v[j]!;
      h[i * cols + j] = h[j * cols + i] = d[i]! * d[j]! * c;
    }
  }
  const w = matrix(
    rows,
    cols,
    Float32Array.from({ length: rows * cols }, () => rnd() - 0.5),
  );
  const pruneTo = (cur: Float32Array, frac: number): Uint8Array => {
    const mask = new Uint8Array(rows * cols).fill(1);
    const idx = Array.from({ length: cols }, (_, j) => j);
    for (let r = 0; r < rows; r++) {
      const s = (j: number): number => Math.abs(cur[r * cols + j]!) * Math.sqrt(h[j * cols + j]!);
      idx.sort((a, b) => s(a) - s(b));
      for (let k = 0; k < Math.floor(frac * cols); k++) mask[r * cols + idx[k]!] = 0;
    }
    return mask;
  };
  const shape = `${rows} × ${cols}`;
  let t0 = performance.now();
  await fullInverseUpper(h, cols, 0.01, be, shape);
  console.log(
    `| ${shape} | the wide path's one factorisation of H + λI (backend) | – | – | ${((performance.now() - t0) / 1000).toFixed(1)} | – |`,
  );
  const m0 = pruneTo(w.data, 0.25);
  t0 = performance.now();
  const r0 = await pcgRefit(w, h, m0, { backend: be, maxIterations: 1, name: "step1" });
  console.log(
    `| ${shape} | 1 of 2 (25 %), refit only | budget 1 | ${r0.iterations} | ${((performance.now() - t0) / 1000).toFixed(1)} | – |`,
  );
  t0 = performance.now();
  const m1 = m0;
  const r1 = await pcgRefit(w, h, m1, { backend: be, maxIterations: 3, name: "step1" });
  console.log(
    `| ${shape} | 1 of 2 (25 %), refit only | budget 3 | ${r1.iterations} | ${((performance.now() - t0) / 1000).toFixed(1)} | – |`,
  );
  const m2 = pruneTo(r1.weight, 0.5);
  let ref = 0;
  for (const tol of [1e-8, 1e-6, 1e-5]) {
    t0 = performance.now();
    const r2 = await pcgRefit(w, h, m2, {
      backend: be,
      initialWeight: r1.weight,
      tolerance: tol,
      name: "step2",
    });
    const secs = (performance.now() - t0) / 1000;
    const e = reconstructionError(w, r2.weight, h);
    if (tol === 1e-8) ref = e;
    console.log(
      `| ${shape} | 2 of 2 (50 %) | ${tol} | ${r2.iterations} | ${secs.toFixed(1)} | ${(e / ref).toFixed(6)} |`,
    );
  }
}
