// Rotary position embeddings (HF rotate-half), shared by inference and distill's training forward.
import type { FloatArray } from "./layers.ts";
import { type RopeParameters, ropeInverseFrequencies } from "./rope-scaling.ts";

/** Rotary tables cos/sin [positions, headDim/2], float32 like HF (inv_freq, angle, cos/sin in f32). */
export interface RopeTable {
  /** Number of positions the table covers (0..positions−1). */
  readonly positions: number;
  /** headDim / 2. */
  readonly half: number;
  readonly cos: Float32Array; // (positions, half)
  readonly sin: Float32Array; // (positions, half)
}

/**
 * cos/sin tables of positions 0..positions−1: angle = fround(p · inv_freq[i]), cos/sin stored in float32.
 * The inverse frequencies come from {@link ropeInverseFrequencies} (plain, or per `ropeScaling`), the one
 * place they are computed; a `LlamaConfig` is a valid `RopeParameters`.
 *
 * @example
 * const rope = buildRope(256, cfg);
 */
export function buildRope(positions: number, params: RopeParameters): RopeTable {
  const invFreq = ropeInverseFrequencies(params); // (half,)
  const half = invFreq.length;
  const cos = new Float32Array(positions * half); // (positions, half)
  const sin = new Float32Array(positions * half); // (positions, half)
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(p * invFreq[i]!);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { positions, half, cos, sin };
}

/**
 * HF rotate-half RoPE in place on rows [rows, heads·headDim]; row r is at position `pos(r)`
 * (which must be < `rope.positions`). Products in float64, stored in x's precision.
 *
 * @example
 * applyRope(q, rows, cfg.numHeads, cfg.headDim, rope, (r) => r % seqLen);
 */
export function applyRope(
  x: FloatArray,
  rows: number,
  heads: number,
  headDim: number,
  rope: RopeTable,
  pos: (r: number) => number,
): void {
  const half = headDim / 2;
  const stride = heads * headDim;
  for (let r = 0; r < rows; r++) {
    const t = pos(r) * half;
    for (let h = 0; h < heads; h++) {
      const base = r * stride + h * headDim;
      for (let i = 0; i < half; i++) {
        const c = rope.cos[t + i]!;
        const s = rope.sin[t + i]!;
        const x1 = x[base + i]!;
        const x2 = x[base + i + half]!;
        x[base + i] = x1 * c - x2 * s;
        x[base + i + half] = x2 * c + x1 * s;
      }
    }
  }
}
