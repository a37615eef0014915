// ---- Large working buffers handed from one call to the next ----
//
// SparseGPT's float64 working copy of W and the blocked factor's float32 scratch are hundreds of MiB
// on a 7B block (344 MiB and 346 MiB at 4096 × 11008). Allocated fresh per linear, each one outlives a
// few young-generation collections and then waits in V8's old generation for a full collection, which
// a program whose JavaScript heap stays at a few MiB rarely triggers: on a 7B block the dropped
// buffers of the earlier linears were still resident (~1.8 GiB) when down_proj started. The pool lets
// the next call reuse them instead. Its buffers are held through WeakRefs, so a collection may still
// take them.

/** Buffers smaller than this are allocated directly (not worth pooling). */
export const POOL_MIN_BYTES: number = 1 << 20;

/**
 * A pool of ArrayBuffers: `take(bytes)` returns the smallest pooled buffer of at least `bytes` (its
 * contents are stale) or a new one; `give(buffer)` hands it back for later calls. At most `keep`
 * buffers are kept (the oldest is dropped first).
 *
 * @example
 * const pool = new BufferPool();
 * const w = new Float64Array(pool.take(8 * n), 0, n); // stale contents: initialise it
 * pool.give(w.buffer);
 */
export class BufferPool {
  private readonly free: WeakRef<ArrayBuffer>[] = [];
  private readonly keep: number;

  constructor(keep = 4) {
    if (!Number.isInteger(keep) || keep < 0)
      throw new RangeError(`BufferPool: keep must be an integer ≥ 0, got ${keep}`);
    this.keep = keep;
  }

  /** Buffers currently pooled (and not yet collected). */
  get size(): number {
    return this.free.filter((r) => r.deref() !== undefined).length;
  }

  /**
   * An ArrayBuffer of at least `bytes` (stale contents); a new one when none pooled fits. `exact`:
   * only a pooled buffer of exactly `bytes` fits (for arrays handed to callers, whose `.buffer` is
   * then the array's own size).
   */
  take(bytes: number, exact = false): ArrayBuffer {
    if (bytes < POOL_MIN_BYTES) return new ArrayBuffer(bytes);
    let best: ArrayBuffer | undefined;
    let at = -1;
    for (let i = this.free.length - 1; i >= 0; i--) {
      const b = this.free[i]!.deref();
      if (b === undefined) {
        this.free.splice(i, 1);
        if (at > i) at--;
        continue;
      }
      const fits = exact ? b.byteLength === bytes : b.byteLength >= bytes;
      if (fits && (best === undefined || b.byteLength < best.byteLength)) {
        best = b;
        at = i;
      }
    }
    if (best === undefined) return new ArrayBuffer(bytes);
    this.free.splice(at, 1);
    return best;
  }

  /** Hand `buffer` back: nothing may use it (or a view of it) afterwards. */
  give(buffer: ArrayBufferLike): void {
    if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < POOL_MIN_BYTES || this.keep === 0) return;
    this.free.push(new WeakRef(buffer));
    if (this.free.length > this.keep) this.free.shift();
  }
}

/**
 * The pool SparseGPT and the blocked factorisation share: two buffers (the last call's working copy
 * of W and its factor scratch), so what one linear held is what the next reuses, and no more.
 */
export const WORK_POOL: BufferPool = new BufferPool(2);

/**
 * The pool of the batched PCG refit (`pcgRefit`) and of the rows × cols arrays around it: its per-call
 * state — Δ and the residuals (float64 rows × cols each), the search directions and the GEMM output
 * (float32), one block of H's rows and its product — goes back here at the end of the call, so the
 * next refit reuses those pages instead of allocating ~0.45 GiB anew per 2048 × 8192 linear while
 * the last call's copies wait for a collection. Its result arrays and a caller's dead rows × cols
 * arrays (MAMA's dense-target products, warm starts, gradients: {@link recycleFloats}) come from and
 * go back here too ({@link pooledFloat32}). Pooled buffers are zero-filled on take (as fresh ones):
 * the results do not change. Twelve buffers: one linear's PCG state (six) plus the caller's arrays.
 */
export const PCG_POOL: BufferPool = new BufferPool(12);

/**
 * A zeroed Float32Array of `n` values (the contents of `new Float32Array(n)`) on a buffer of
 * {@link PCG_POOL} when one of exactly 4·n bytes is pooled, else a new one: a rows × cols array that
 * reuses the pages of a dead one of the same shape instead of adding to what V8 collects late.
 * `zeroed = false` skips the zero-fill for a caller that writes every value before reading any (a
 * pooled buffer then holds a dead array's values).
 *
 * @example
 * const y = pooledFloat32(rows * cols); // as new Float32Array(rows * cols)
 * const out = pooledFloat32(rows * cols, false); // every value written next (e.g. a GEMM's output)
 */
export function pooledFloat32(n: number, zeroed = true): Float32Array {
  const a = new Float32Array(PCG_POOL.take(4 * n, true), 0, n);
  return zeroed ? a.fill(0) : a;
}

/**
 * Hand the buffer of a dead array to {@link PCG_POOL} for {@link pooledFloat32} and the PCG refit:
 * nothing may read or write `a`, or any other view of its buffer, afterwards. Views that do not start
 * at their buffer's beginning are ignored (part of a larger buffer someone else may own).
 *
 * @example
 * recycleFloats(gradient); // its last read was just above
 */
export function recycleFloats(a: Float32Array | Float64Array): void {
  if (a.byteOffset === 0) PCG_POOL.give(a.buffer);
}
