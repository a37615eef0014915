// What the wide path's block-conditional kept-set OBS term costs at 1B widths (single-threaded JS): for
// each Llama-3.2-1B linear shape (rows × cols), the per-block conditional precisions S_b = (G_bb)⁻¹
// (once per linear) and the per-row term on the second step's masks (the first step's rows are fully
// kept: no inverse), timed on `sample` rows and scaled to all rows (rows are independent).
// G = UᵀU from a random upper-triangular U with positive diagonal (the cost does not depend on its
// values; the factorisation of H + λI is the one the wide path already runs for its full-inverse term).
// Run: npx tsx --conditions @mama-prune/source examples/mama/src/wide-obs-cost.ts [sample] [blocks,]
import { blockConditionalPrecisions, blockKeptDiagonal } from "@mama-prune/pipeline";

const sample = Number(process.argv[2] ?? 128);
const blocks = (process.argv[3] ?? "32,64,128").split(",").map(Number);
const SHAPES = [
  [2048, 2048, "q/o_proj (2048 × 2048)"],
  [8192, 2048, "gate/up_proj (8192 × 2048)"],
  [2048, 8192, "down_proj (2048 × 8192)"],
] as const;
// Kept fraction of a row before the second of the wide path's 2 steps: 0.5 → 25 % pruned, 0.7 → 35 %,
// 2:4 → 1 of 4 per run.
const LEVELS = [
  ["0.5", 0.25],
  ["0.7", 0.35],
  ["2:4", -1],
] as const;

let s = 12345;
const rnd = (): number => {
  s = (s * 1664525 + 1013904223) >>> 0;
  return s / 2 ** 32;
};
console.log("| linear | B | S_b (once) | OBS term, step 2, 0.5 | 0.7 | 2:4 |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const [rows, cols, label] of SHAPES) {
  const u = new Float64Array(cols * cols); // (cols, cols) upper triangular
  for (let i = 0; i < cols; i++) {
    u[i * cols + i] = 1 + rnd();
    for (let j = i + 1; j < Math.min(cols, i + 48); j++) u[i * cols + j] = 0.3 * (rnd() - 0.5);
  }
  for (const b of blocks) {
    let t0 = performance.now();
    const obs = blockConditionalPrecisions(u, cols, b, label);
    const pre = (performance.now() - t0) / 1000;
    const cells: string[] = [];
    for (const [, frac] of LEVELS) {
      const masks = Array.from({ length: sample }, () => {
        const m = new Uint8Array(cols).fill(1);
        if (frac < 0) for (let r = 0; r < cols; r += 4) m[r + Math.floor(rnd() * 4)] = 0;
        else for (let j = 0; j < cols; j++) if (rnd() < frac) m[j] = 0;
        return m;
      });
      t0 = performance.now();
      let sink = 0;
      for (const m of masks) sink += blockKeptDiagonal(obs, m)[0]!;
      const per = (performance.now() - t0) / 1000 / sample;
      cells.push(`${(per * rows).toFixed(1)} s`);
      if (!Number.isFinite(sink)) throw new Error("non-finite term");
    }
    console.log(`| ${label} | ${b} | ${pre.toFixed(1)} s | ${cells.join(" | ")} |`);
  }
}
