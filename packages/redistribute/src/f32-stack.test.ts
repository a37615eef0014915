import { describe, expect, it } from "vitest";
import { BufferPool, POOL_MIN_BYTES } from "./buffer-pool.ts";
import { F32Stack } from "./f32-stack.ts";

describe("F32Stack", () => {
  it("hands out disjoint views, reuses them after release, zero-fills on request", () => {
    const sc = new F32Stack(100);
    const m0 = sc.mark();
    const a = sc.take(30);
    const b = sc.take(70);
    a.fill(1);
    b.fill(2);
    expect(a.buffer).toBe(b.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + 30 * 4);
    expect(sc.chunkCount).toBe(1);
    sc.release(m0);
    const c = sc.take(50); // the same floats as a and the start of b: stale values
    expect(c.byteOffset).toBe(a.byteOffset);
    expect(c[0]).toBe(1);
    expect(c[40]).toBe(2);
    const z = sc.take(50, true);
    expect(Array.from(z)).toEqual(new Array(50).fill(0));
    expect(sc.chunkCount).toBe(1);
    expect(sc.capacity).toBe(100);
  });

  it("opens a chunk when a request does not fit, and reuses it after release", () => {
    const sc = new F32Stack(10);
    const m = sc.mark();
    sc.take(8);
    const big = sc.take(25); // does not fit the first chunk's 2 floats left
    expect(big.length).toBe(25);
    expect(sc.chunkCount).toBe(2);
    sc.release(m);
    sc.take(8);
    expect(sc.take(25).buffer).toBe(big.buffer);
    expect(sc.chunkCount).toBe(2);
    expect(() => new F32Stack(-1)).toThrow(RangeError);
  });

  it("takes its chunks from a pool and gives them back at dispose", () => {
    const pool = new BufferPool();
    const floats = POOL_MIN_BYTES / 4 + 16;
    const sc = new F32Stack(floats, pool);
    const v = sc.take(10);
    sc.dispose();
    expect(pool.size).toBe(1);
    const again = new F32Stack(floats, pool);
    expect(again.take(10).buffer).toBe(v.buffer);
    expect(pool.size).toBe(0);
  });
});

describe("BufferPool", () => {
  it("returns the smallest pooled buffer that fits, else a new one; keeps at most `keep`", () => {
    const pool = new BufferPool(2);
    const MB = POOL_MIN_BYTES;
    const b2 = new ArrayBuffer(2 * MB);
    const b3 = new ArrayBuffer(3 * MB);
    pool.give(b3);
    pool.give(b2);
    expect(pool.take(MB + 1)).toBe(b2);
    expect(pool.take(MB + 1)).toBe(b3);
    expect(pool.take(MB + 1)).not.toBe(b3); // empty: a new buffer
    pool.give(b2);
    pool.give(b3);
    pool.give(new ArrayBuffer(4 * MB)); // b2, the oldest, is dropped
    expect(pool.size).toBe(2);
    expect(pool.take(2 * MB)).toBe(b3);
    // Small buffers are neither pooled nor taken from the pool.
    pool.give(new ArrayBuffer(16));
    expect(pool.size).toBe(1);
    expect(pool.take(16).byteLength).toBe(16);
    expect(() => new BufferPool(-1)).toThrow(RangeError);
  });
});

describe("F32Stack high-water mark", () => {
  it("is the most floats in use at once", () => {
    const sc = new F32Stack(100);
    const m = sc.mark();
    sc.take(40);
    sc.take(30);
    sc.release(m);
    sc.take(20);
    expect(sc.highWater).toBe(70);
  });
});
