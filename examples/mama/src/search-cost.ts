// Cost of the refinement's mask searches on one 64 × 192 layer at 2:4 (development aid, single run):
// npx tsx --conditions @mama-prune/source src/search-cost.ts
import { matrix } from "@mama-prune/core";
import { admmMask, swapRefineMask } from "@mama-prune/pipeline";
import { sparsegpt } from "@mama-prune/redistribute";

let s = 7;
const rand = (): number => {
  s = (s * 1664525 + 1013904223) >>> 0;
  return s / 2 ** 32 - 0.5;
};
for (const [rows, cols] of [
  [64, 64],
  [64, 192],
  [192, 64],
] as const) {
  const w = matrix(
    rows,
    cols,
    Float32Array.from({ length: rows * cols }, () => rand()),
  );
  const gram = new Float64Array(cols * cols);
  for (let t = 0; t < 512; t++) {
    const b = rand();
    const x = Array.from({ length: cols }, (_, j) => rand() + 0.7 * b * (j % 3 === 0 ? 1 : -0.5));
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) gram[i * cols + j]! += x[i]! * x[j]!;
  }
  const nm = { n: 2, m: 4 };
  const start = (await sparsegpt(w, gram, { sparsity: nm })).mask;
  const time = (label: string, f: () => number | undefined): void => {
    const t0 = performance.now();
    const loss = f();
    console.log(
      `${rows}×${cols} ${label.padEnd(28)} ${((performance.now() - t0) / 1000).toFixed(2)} s${loss !== undefined ? `  loss ${loss.toPrecision(6)}` : ""}`,
    );
  };
  time("swap (default)", () => swapRefineMask(w, gram, start, { nm }).lossAfter);
  time("group moves", () => swapRefineMask(w, gram, start, { nm, moves: "group" }).lossAfter);
  time("swap + 8 kicks", () => swapRefineMask(w, gram, start, { nm, kicks: 8 }).lossAfter);
  time("admm (300 it) + swap", () => swapRefineMask(w, gram, admmMask(w, gram, nm), { nm }).lossAfter);
}
