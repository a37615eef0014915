/**
 * The WebAssembly kernels of the backend, generated as bytes by the in-repo encoder.
 *
 * Exports of the generated module (all pointers are byte offsets into the imported memory):
 * - `mm(xp, wp, yp, bp, kPad, nPad, ib0, ib1, p0, p1)`: y tile rows [4·ib0, 4·ib1) × columns
 *   [8·p0, 8·p1) of y = x · wᵀ (+ bias) with x packed as 4-row blocks `[mPad/4][kPad][4]`, w packed as
 *   8-column panels `[nPad/8][kPad][8]`, y row-major `[mPad][nPad]`, bias `[nPad]` (bp = 0: none).
 *   A 4×8 output tile lives in eight f32x4 accumulators; K is walked in blocks of {@link K_BLOCK}
 *   (unrolled ×4), so each tile reads 4 splatted x values and two f32x4 of w per k.
 * - `acc64(g, s, ld, r0, r1, c0, c1)`: s[r, c] += f64(g[r, c]) on a rectangle of two row-major
 *   matrices with leading dimension `ld` (f32 source, f64 destination; c0, c1 multiples of 4).
 * - `colsq(x, acc, kPad, m)`: acc[j] += Σ_i x[i, j]² with the squares and the sums in float64
 *   (x rows padded to kPad floats, kPad a multiple of 4).
 * - `mirror64(s, ld, r0, r1, c0, c1)`: s[c, r] = s[r, c] on a rectangle of a row-major f64 matrix
 *   (writes the lower-triangle copy of an upper-triangle Gram block).
 * - `attn(pp, b, h, scr)`: fused causal attention of query head h of window b (./kernels/attention.ts):
 *   scores, softmax and P·V with the arithmetic of the QKᵀ/P·V `mm` path, parameters at pp.
 * - `swiglu(gp, up, op, i0, i1)`: out[i] = silu(g[i])·u[i] on [i0, i1) (./kernels/swiglu.ts), with the
 *   float64 arithmetic and exp of the model's JavaScript SwiGLU.
 * - `rowsumexp(yp, mp, sp, n, r0, r1)`: per row r in [r0, r1) of the float32 y (n columns), its largest
 *   entry and Σ_j exp(y[r, j] − max) in float64 in column order (./kernels/row-sum-exp.ts), bitwise
 *   equal to the JavaScript loops of a log-sum-exp.
 */
import { attnKernel } from "./kernels/attention.ts";
import { colsqKernel } from "./kernels/colsq.ts";
import { acc64Kernel, mirrorKernel } from "./kernels/gram.ts";
import { mmKernel } from "./kernels/matmul.ts";
import { rowSumExpKernel } from "./kernels/row-sum-exp.ts";
import { swigluKernel } from "./kernels/swiglu.ts";
import { encodeModule } from "./wasm-encoder.ts";

/** Depth of one K block of the matmul kernel (floats); a multiple of 4. */
export const K_BLOCK = 256;
/** Rows of one output tile. */
export const TILE_M = 4;
/** Columns of one output tile (= width of a weight panel). */
export const TILE_N = 8;

/** Options of {@link buildKernelModule}. */
export interface KernelModuleOptions {
  /** Import a shared memory (needed to share it with worker threads). */
  readonly shared: boolean;
  /** Maximum memory size in 64 KiB pages declared by the import (≤ 65536). */
  readonly maxPages: number;
  /** Depth of the matmul K block in floats (multiple of 4). Default {@link K_BLOCK}. */
  readonly kBlock?: number;
  /** Rows of the output tile (experimental; the backend packs x for 4). Default {@link TILE_M}. */
  readonly tileM?: number;
}

/**
 * Assemble the kernel module (`mm`, `acc64`, `colsq`; imports `env.memory`).
 *
 * @throws RangeError when `maxPages` is outside [1, 65536].
 * @example
 * const bytes = buildKernelModule({ shared: false, maxPages: 65536 });
 * WebAssembly.validate(bytes); // true where WebAssembly SIMD is supported
 */
export function buildKernelModule(options: KernelModuleOptions): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(options.maxPages) || options.maxPages < 1 || options.maxPages > 65536) {
    throw new RangeError(
      `buildKernelModule: maxPages must be an integer in [1, 65536], got ${options.maxPages}`,
    );
  }
  const kBlock = options.kBlock ?? K_BLOCK;
  if (!Number.isInteger(kBlock) || kBlock < 4 || kBlock % 4 !== 0 || kBlock > 1 << 20) {
    throw new RangeError(`buildKernelModule: kBlock must be a positive multiple of 4, got ${options.kBlock}`);
  }
  return encodeModule({
    memory: { minPages: 1, maxPages: options.maxPages, shared: options.shared },
    functions: [
      mmKernel(kBlock, options.tileM ?? TILE_M),
      acc64Kernel(),
      colsqKernel(),
      mirrorKernel(),
      attnKernel(),
      swigluKernel(),
      rowSumExpKernel(),
    ],
  });
}

/** The functions exported by the kernel module, as seen from JavaScript. */
export interface KernelExports {
  /** See the module documentation. */
  mm(
    xp: number,
    wp: number,
    yp: number,
    bp: number,
    kPad: number,
    nPad: number,
    ib0: number,
    ib1: number,
    p0: number,
    p1: number,
  ): void;
  /** s[r, c] += f64(g[r, c]) for r in [r0, r1), c in [c0, c1). */
  acc64(g: number, s: number, ld: number, r0: number, r1: number, c0: number, c1: number): void;
  /** acc[j] += Σ_i x[i, j]² (float64). */
  colsq(x: number, acc: number, kPad: number, m: number): void;
  /** s[c, r] = s[r, c] for r in [r0, r1), c in [c0, c1) (f64, leading dimension ld). */
  mirror64(s: number, ld: number, r0: number, r1: number, c0: number, c1: number): void;
  /** Causal attention of query head h of window b (parameter block at pp, scratch at scr). */
  attn(pp: number, b: number, h: number, scr: number): void;
  /** out[i] = silu(g[i])·u[i] for i in [i0, i1) (float32 arrays; i0, i1 multiples of 4). */
  swiglu(gp: number, up: number, op: number, i0: number, i1: number): void;
  /** max[r] and Σ_j exp(y[r, j] − max[r]) (float64) for rows [r0, r1) of y (float32, n columns). */
  rowsumexp(yp: number, mp: number, sp: number, n: number, r0: number, r1: number): void;
}
