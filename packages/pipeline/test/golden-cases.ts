// Cases pinned bit-for-bit across the refactor of prune into pruneLinear (hashes of every pruned
// weight and of the report's numbers, produced by the pre-refactor pipeline).
import { sha256Hex } from "@mama-prune/core";
import { LINEAR_NAMES } from "@mama-prune/model";
import { randomModel, randomWindows } from "./fixtures/random-model.ts";

export const GOLDEN_SHAPE = { hidden: 16, intermediate: 32, layers: 3, heads: 4, kvHeads: 2, vocab: 40 };

/** name → prune options (besides checkpoint, calibration and preCheckpoint, which every case gets). */
export const GOLDEN_CASES: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  magnitude: { method: "magnitude", sparsity: 0.5 },
  "neg-magnitude": { method: "neg-magnitude", sparsity: 0.5 },
  wanda: { method: "wanda", sparsity: 0.5 },
  sparsegpt: { method: "sparsegpt", sparsity: 0.6 },
  movement: { method: "movement", sparsity: 0.5 },
  ria: { method: "ria", sparsity: 0.5 },
  // MAMA with its layer target (the default before the dense target), then today's default.
  mama: { method: "mama", sparsity: 0.5, methodOptions: { target: "layer" } },
  "mama-no-pre": { method: "mama", sparsity: 0.5, noPre: true, methodOptions: { target: "layer" } },
  "mama-dense": { method: "mama", sparsity: 0.5 },
  "mama-dense-1:4": { method: "mama", sparsity: { n: 1, m: 4 }, methodOptions: { permute: "none" } },
  // The default at N:M since the channel permutation became MAMA's default (issue 13, 2:4 target).
  "mama-permute-1:4": { method: "mama", sparsity: { n: 1, m: 4 } },
  "wanda-2:4": { method: "wanda", sparsity: { n: 2, m: 4 } },
  "sparsegpt-2:4": { method: "sparsegpt", sparsity: { n: 2, m: 4 } },
  // MAMA's steps alone at 1:4 (the digest recorded before the swap refinement existed) and the default,
  // which refines N:M masks by exact swaps after the steps.
  "mama-1:4": {
    method: "mama",
    sparsity: { n: 1, m: 4 },
    methodOptions: { refine: "none", target: "layer", permute: "none" },
  },
  "mama-swap-1:4": {
    method: "mama",
    sparsity: { n: 1, m: 4 },
    methodOptions: { target: "layer", permute: "none" },
  },
  "wanda-owl": { method: "wanda", sparsity: 0.5, allocation: { kind: "owl", lambda: 0.1, M: 3 } },
  "magnitude-refit": { method: "magnitude", sparsity: 0.5, redistribution: "refit" },
  "magnitude-mean": { method: "magnitude", sparsity: 0.4, redistribution: "mean" },
  "ria-sparsegpt": {
    method: "ria",
    sparsity: 0.5,
    redistribution: "sparsegpt",
    group: "block",
    blockSize: 8,
  },
  "wanda-weighted": { method: "wanda", sparsity: 0.5, weighted: true },
  // MAMA before it became a method of its own (issue 13) was Wanda's mask + the exact refit: the first
  // case's weights equal the pre-issue-13 "mama-no-pre" digest (the old "mama-1:4" also mixed movement).
  "wanda-refit": { method: "wanda", sparsity: 0.5, redistribution: "refit", noPre: true },
  "wanda-refit-1:4": { method: "wanda", sparsity: { n: 1, m: 4 }, redistribution: "refit", noPre: true },
};

export async function goldenInputs(): Promise<{
  checkpoint: Awaited<ReturnType<typeof randomModel>>["checkpoint"];
  pre: Awaited<ReturnType<typeof randomModel>>["checkpoint"];
  calibration: ReturnType<typeof randomWindows>;
  sampleWeights: Float32Array;
}> {
  const { checkpoint } = await randomModel({ ...GOLDEN_SHAPE, seed: 5 });
  const { checkpoint: pre } = await randomModel({ ...GOLDEN_SHAPE, seed: 6 });
  const calibration = randomWindows(3, 10, GOLDEN_SHAPE.vocab, 13);
  return { checkpoint, pre, calibration, sampleWeights: new Float32Array([0.5, 2, 1]) };
}

/** sha256 of every block linear's bytes (in order) and of the report's per-linear numbers. */
export async function goldenDigest(
  model: { getLinearWeight(l: number, n: (typeof LINEAR_NAMES)[number]): Float32Array },
  layers: number,
  report: {
    perBlockSparsity: readonly number[];
    linears: readonly {
      zeros: number;
      redistribution: string;
      reconstructionError?: number;
      dampingUsed?: number;
      meanShiftNorm?: number;
      targetSparsity: number;
    }[];
    scorer: string;
    group: string;
  },
): Promise<{ weights: string; report: string }> {
  const parts: Uint8Array[] = [];
  for (let l = 0; l < layers; l++) {
    for (const name of LINEAR_NAMES) {
      const w = model.getLinearWeight(l, name);
      parts.push(new Uint8Array(w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength)));
    }
  }
  let total = 0;
  for (const p of parts) total += p.length;
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const rep = JSON.stringify({
    scorer: report.scorer,
    group: report.group,
    perBlock: report.perBlockSparsity,
    linears: report.linears.map((r) => [
      r.zeros,
      r.redistribution,
      r.reconstructionError,
      r.dampingUsed,
      r.meanShiftNorm,
      r.targetSparsity,
    ]),
  });
  return { weights: await sha256Hex(all), report: await sha256Hex(new TextEncoder().encode(rep)) };
}
