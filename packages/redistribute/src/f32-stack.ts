// ---- A stack of float32 scratch for the blocked factorisation's temporaries ----

import type { BufferPool } from "./buffer-pool.ts";

/**
 * A stack of float32 scratch: `take` hands out views, `release(mark)` returns everything taken since
 * `mark()`. Chunks are kept (and reused) until the stack itself is dropped, so the memory is bounded
 * by the deepest live set, never by the number of products, and no temporary is left for V8 to
 * collect late. A request that does not fit the current chunk moves on to the next chunk that fits,
 * or opens one of at least `chunk` floats; a first chunk sized for the caller's deepest live set
 * avoids that.
 *
 * @example
 * const sc = new F32Stack(1024);
 * const m = sc.mark();
 * const a = sc.take(100); // (100,) old values
 * const b = sc.take(10, true); // (10,) zeros
 * sc.release(m); // a and b may be handed out again
 */
export class F32Stack {
  private readonly chunks: Float32Array[] = [];
  private readonly minChunk: number;
  private at = 0; // index of the current chunk
  private top = 0; // floats used in the current chunk
  private peak = 0;

  private readonly pool: BufferPool | undefined;

  /** `pool`, when given, supplies the chunks and gets them back at {@link dispose}. */
  constructor(chunk: number, pool?: BufferPool) {
    if (!Number.isInteger(chunk) || chunk < 0) {
      throw new RangeError(`F32Stack: chunk must be an integer ≥ 0, got ${chunk}`);
    }
    this.minChunk = Math.max(1, chunk);
    this.pool = pool;
  }

  /** Give every chunk back to the pool; the stack and all its views must not be used afterwards. */
  dispose(): void {
    for (const ch of this.chunks.splice(0)) this.pool?.give(ch.buffer);
    this.at = 0;
    this.top = 0;
  }

  /** Floats held by all chunks. */
  get capacity(): number {
    let c = 0;
    for (const ch of this.chunks) c += ch.length;
    return c;
  }

  /** Most floats in use at once so far (counting the unused tails of skipped chunks). */
  get highWater(): number {
    return this.peak;
  }

  /** Number of chunks opened so far. */
  get chunkCount(): number {
    return this.chunks.length;
  }

  /** A view of `len` floats, zero-filled when `zero` (otherwise it holds whatever was there). */
  take(len: number, zero = false): Float32Array {
    let ch = this.chunks[this.at];
    if (ch === undefined || this.top + len > ch.length) {
      let i = ch === undefined ? this.at : this.at + 1; // the current chunk's tail stays unused
      while (i < this.chunks.length && this.chunks[i]!.length < len) i++;
      if (i >= this.chunks.length) {
        const floats = Math.max(len, this.minChunk);
        const buf = this.pool === undefined ? new ArrayBuffer(4 * floats) : this.pool.take(4 * floats);
        this.chunks.push(new Float32Array(buf, 0, floats));
        i = this.chunks.length - 1;
      }
      this.at = i;
      this.top = 0;
      ch = this.chunks[i]!;
    }
    const v = ch.subarray(this.top, this.top + len);
    this.top += len;
    let below = 0; // floats of the chunks before the current one
    for (let i = 0; i < this.at; i++) below += this.chunks[i]!.length;
    this.peak = Math.max(this.peak, below + this.top);
    if (zero) v.fill(0);
    return v;
  }

  /** The current top, for {@link release}. */
  mark(): number {
    return this.at * 2 ** 32 + this.top;
  }

  /** Give back everything taken since `mark` (its chunks stay allocated for reuse). */
  release(mark: number): void {
    this.at = Math.floor(mark / 2 ** 32);
    this.top = mark % 2 ** 32;
  }
}
