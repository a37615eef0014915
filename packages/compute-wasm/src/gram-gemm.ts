/**
 * The Gram matrix of wide inputs (k ≥ {@link GRAM_GEMM_MIN_K}) as block rows of the matmul kernel:
 * per chunk of {@link GRAM_GEMM_DEPTH} rows of x, xᵀ is packed in both operand layouts (one pass over
 * x) and each block row [ib, ib + B) of the upper triangle is one `mm` call whose operands are offsets
 * into those packs (y = X_b·X[ib:]ᵀ, about half the flops of the full product). The float32 block is
 * added to the float64 accumulator in JavaScript, its transpose mirrored into the lower triangle from
 * the same values (exactly symmetric increments), in small tiles so that both the row-wise and the
 * mirrored accesses stay in the cache.
 *
 * Both threads stay busy: block rows run from the last to the first, and block row ib reads the packs'
 * columns ≥ ib only, so the calling thread packs the columns the next block row adds and folds the
 * previous block row (y double-buffered) while the workers run this block row's kernel tasks
 * (`alongside`), then claims tasks too. Scratch: 2·kp·depth + 2·B·kp floats (≈ 80 MiB at k = 8192).
 *
 * Every output element is the same float32 sum over the chunk as before the overlap (kernel, packed
 * values and depth unchanged), and every accumulator element gets one float64 add per chunk, so the
 * result is the same bit for bit whatever the order of block rows and folds. @internal
 */
import type { WasmHeap } from "./heap.ts";
import { packColumnBlocks } from "./packing.ts";
import { planMatmul } from "./task-plan.ts";
import { OP_MM } from "./tasks.ts";

/** Smallest k that takes the block-row GEMM path (narrower Gram matrices keep the tile kernel, bit for bit). */
export const GRAM_GEMM_MIN_K = 512;
/** Rows of x summed in float32 (inside one `mm` call) before the float64 add. */
export const GRAM_GEMM_DEPTH = 1024;
/** Output rows per block row (a multiple of 8). */
export const GRAM_GEMM_BLOCK = 256;

/** Side of the square tiles of the fold (rows × columns of y folded together). */
const FOLD_TILE = 8;

/**
 * acc[ib + r, ib + c] += y[r, c] for c ≥ r and, for c > r, acc[ib + c, ib + r] += y[r, c]
 * (r < rows, c < k − ib): one block row of the upper triangle, y row-major with leading dim `ny`.
 * Walked in row groups of {@link FOLD_TILE}: the group's upper part row by row (sequential), its
 * mirror in FOLD_TILE × FOLD_TILE tiles (FOLD_TILE lines of y, FOLD_TILE short runs of acc).
 *
 * @example
 * foldGramBlockRow(y, ny, rows, ib, k, acc);
 */
export function foldGramBlockRow(
  y: Float32Array,
  ny: number,
  rows: number,
  ib: number,
  k: number,
  acc: Float64Array,
): void {
  const kr = k - ib; // live columns of the block row
  for (let r0 = 0; r0 < rows; r0 += FOLD_TILE) {
    const r1 = Math.min(r0 + FOLD_TILE, rows);
    for (let r = r0; r < r1; r++) {
      const yo = r * ny;
      const ao = (ib + r) * k + ib;
      for (let c = r; c < kr; c++) acc[ao + c] = (acc[ao + c] as number) + (y[yo + c] as number);
    }
    for (let c0 = r0; c0 < kr; c0 += FOLD_TILE) {
      const c1 = Math.min(c0 + FOLD_TILE, kr);
      for (let c = Math.max(c0, r0 + 1); c < c1; c++) {
        const ao = (ib + c) * k + ib;
        const rEnd = Math.min(r1, c);
        for (let r = r0; r < rEnd; r++) acc[ao + r] = (acc[ao + r] as number) + (y[r * ny + c] as number);
      }
    }
  }
}

/**
 * Rows [i0, i0 + mc) of x [*, k], seen as xᵀ [k, mc], into both operand layouts of the kernel in one
 * pass over x: 4-column blocks [kp/4][mcPad][4] at `base4` and 8-column panels [kp/8][mcPad][8] at
 * `base8` (f32 indices), zero padded; the values of `packColumnBlocks` with widths 4 and 8. Only
 * columns [c0, c1) of x are packed (multiples of 8; default all): the parts of both packs they fill
 * are disjoint from the other columns' parts. k not a multiple of 8 packs all columns.
 *
 * @example
 * packColumnBlocks48(f32, xp >>> 2, wp >>> 2, x, 0, mc, mcPad, k, kp);
 */
export function packColumnBlocks48(
  f32: Float32Array,
  base4: number,
  base8: number,
  x: Float32Array,
  i0: number,
  mc: number,
  mcPad: number,
  k: number,
  kp: number,
  c0 = 0,
  c1: number = k,
): void {
  if (k % 8 !== 0) {
    packColumnBlocks(f32, base4, x, i0, mc, mcPad, k, kp, 4);
    packColumnBlocks(f32, base8, x, i0, mc, mcPad, k, kp, 8);
    return;
  }
  if (c1 === k && kp > k) {
    // the padding columns [k, kp) of both packs (their blocks start at column·mcPad in both layouts)
    f32.fill(0, base4 + k * mcPad, base4 + kp * mcPad);
    f32.fill(0, base8 + k * mcPad, base8 + kp * mcPad);
  }
  for (let cb = c0; cb < c1; cb += 8) {
    let d4 = base4 + cb * mcPad; // block cb/4
    let e4 = d4 + 4 * mcPad; // block cb/4 + 1
    let d8 = base8 + cb * mcPad; // panel cb/8
    let s = i0 * k + cb;
    for (let ii = 0; ii < mc; ii++, d4 += 4, e4 += 4, d8 += 8, s += k) {
      const v0 = x[s] as number;
      const v1 = x[s + 1] as number;
      const v2 = x[s + 2] as number;
      const v3 = x[s + 3] as number;
      const v4 = x[s + 4] as number;
      const v5 = x[s + 5] as number;
      const v6 = x[s + 6] as number;
      const v7 = x[s + 7] as number;
      f32[d4] = v0;
      f32[d4 + 1] = v1;
      f32[d4 + 2] = v2;
      f32[d4 + 3] = v3;
      f32[e4] = v4;
      f32[e4 + 1] = v5;
      f32[e4 + 2] = v6;
      f32[e4 + 3] = v7;
      f32[d8] = v0;
      f32[d8 + 1] = v1;
      f32[d8 + 2] = v2;
      f32[d8 + 3] = v3;
      f32[d8 + 4] = v4;
      f32[d8 + 5] = v5;
      f32[d8 + 6] = v6;
      f32[d8 + 7] = v7;
    }
    if (mcPad !== mc) {
      f32.fill(0, d4, d4 + 4 * (mcPad - mc));
      f32.fill(0, e4, e4 + 4 * (mcPad - mc));
      f32.fill(0, d8, d8 + 8 * (mcPad - mc));
    }
  }
}

/** What the block-row Gram needs from the backend. */
export interface GramGemmContext {
  readonly heap: WasmHeap;
  readonly memory: WebAssembly.Memory;
  readonly threads: number;
  readonly rowBlocksPerTask: number;
  /** The task buffer to reuse (planMatmul may return a grown copy: kept through `setTasks`). */
  tasks(): Int32Array;
  setTasks(t: Int32Array): void;
  run(
    op: number,
    args: readonly number[],
    tasks: Int32Array,
    count: number,
    parallel: boolean,
    alongside?: () => void,
  ): Promise<void>;
}

const ceilTo = (v: number, m: number): number => Math.ceil(v / m) * m;
/** Below this many flops a call stays on the calling thread (as the backend's matmul). */
const PARALLEL_MIN_FLOPS = 1 << 21;

/**
 * acc += xᵀx (x: m × k row-major, k ≥ {@link GRAM_GEMM_MIN_K}) by block rows of the `mm` kernel, each
 * block row's fold overlapped with the next block row's kernel tasks.
 *
 * @example
 * await gramBlockRows(ctx, x, m, k, acc);
 */
export async function gramBlockRows(
  ctx: GramGemmContext,
  x: Float32Array,
  m: number,
  k: number,
  acc: Float64Array,
): Promise<void> {
  const kp = ceilTo(k, 8);
  const depth = Math.min(GRAM_GEMM_DEPTH, ceilTo(m, 4));
  const heap = ctx.heap;
  let xp = 0;
  let wp = 0;
  const yps = [0, 0]; // two block-row outputs: one computed while the other is folded
  // The fold still to do: block row `ib` of `rows` rows in y buffer `buf` (row length ny).
  let pending: { buf: number; ny: number; rows: number; ib: number } | undefined;
  const foldPending = (): void => {
    if (pending === undefined) return;
    const { buf, ny, rows, ib } = pending;
    pending = undefined;
    const f32 = new Float32Array(ctx.memory.buffer);
    const yb = yps[buf] as number;
    foldGramBlockRow(f32.subarray(yb >>> 2, (yb >>> 2) + rows * ny), ny, rows, ib, k, acc);
  };
  try {
    xp = heap.alloc(kp * depth * 4); // xᵀ chunk as 4-row blocks [kp/4][mcPad][4]
    wp = heap.alloc(kp * depth * 4); // xᵀ chunk as 8-row panels [kp/8][mcPad][8]
    yps[0] = heap.alloc(GRAM_GEMM_BLOCK * kp * 4); // one block row (≤ B, ≤ kp)
    yps[1] = heap.alloc(GRAM_GEMM_BLOCK * kp * 4);
    const whole = k % 8 !== 0; // packs all columns at once (no column ranges)
    const last = GRAM_GEMM_BLOCK * Math.floor((k - 1) / GRAM_GEMM_BLOCK); // the last block row
    let buf = 0;
    for (let i0 = 0; i0 < m; i0 += depth) {
      const mc = Math.min(depth, m - i0);
      const mcPad = ceilTo(mc, 4);
      // Block row ib reads columns ≥ ib of the packs: the block rows run from the last to the first,
      // and the columns [ib − B, ib) the next one adds are packed alongside block row ib's tasks.
      const pack = (c0: number, c1: number): void =>
        packColumnBlocks48(
          new Float32Array(ctx.memory.buffer),
          xp >>> 2,
          wp >>> 2,
          x,
          i0,
          mc,
          mcPad,
          k,
          kp,
          c0,
          c1,
        );
      pack(whole ? 0 : last, k); // (a pending fold reads its y buffer only, not the packs)
      for (let ib = last; ib >= 0; ib -= GRAM_GEMM_BLOCK) {
        const rowsPad = Math.min(GRAM_GEMM_BLOCK, kp - ib); // a multiple of 8
        const ny = kp - ib; // a multiple of 8
        const { tasks, count } = planMatmul(
          ctx.tasks(),
          rowsPad / 4,
          ny / 8,
          ctx.threads,
          ctx.rowBlocksPerTask,
        );
        ctx.setTasks(tasks);
        const off = ib * mcPad * 4; // the same byte offset in both packs
        let packed = whole || ib === 0;
        const alongside = (): void => {
          foldPending(); // the previous block row, in the other buffer
          if (!packed) pack(ib - GRAM_GEMM_BLOCK, ib); // columns this call does not read
          packed = true;
        };
        await ctx.run(
          OP_MM,
          [xp + off, wp + off, yps[buf] as number, 0, mcPad, ny],
          tasks,
          count,
          2 * rowsPad * mcPad * ny >= PARALLEL_MIN_FLOPS,
          alongside,
        );
        alongside(); // a no-op: the runner ran it (kept for a runner that would not)
        pending = { buf, ny, rows: Math.min(GRAM_GEMM_BLOCK, k - ib), ib };
        buf = 1 - buf;
      }
    }
    foldPending();
  } finally {
    heap.free(xp);
    heap.free(wp);
    heap.free(yps[0] as number);
    heap.free(yps[1] as number);
  }
}
