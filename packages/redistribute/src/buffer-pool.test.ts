import { describe, expect, it } from "vitest";
import { BufferPool, PCG_POOL, POOL_MIN_BYTES, pooledFloat32, recycleFloats } from "./buffer-pool.ts";

describe("pooledFloat32 / recycleFloats", () => {
  it("reuses a recycled buffer of exactly the size asked for, zero-filled; other sizes get new ones", () => {
    const n = POOL_MIN_BYTES / 4 + 1024;
    const dead = new Float32Array(n).fill(Number.NaN);
    recycleFloats(dead);
    const smaller = pooledFloat32(n - 8); // exact sizes only: not the recycled one
    expect(smaller.buffer).not.toBe(dead.buffer);
    const again = pooledFloat32(n);
    expect(again.buffer).toBe(dead.buffer);
    expect(again.length).toBe(n);
    expect(again.every((v) => v === 0)).toBe(true);
    const fresh = pooledFloat32(n); // the pool has no second one
    expect(fresh.buffer).not.toBe(dead.buffer);
  });

  it("ignores views that do not start at their buffer's beginning (part of someone else's buffer)", () => {
    const n = POOL_MIN_BYTES / 4 + 2048;
    const owner = new Float32Array(n + 16);
    recycleFloats(owner.subarray(16));
    expect(pooledFloat32(n).buffer).not.toBe(owner.buffer);
  });

  it("BufferPool.take(bytes, true) takes only an exact fit, the default the smallest that fits", () => {
    const pool = new BufferPool(4);
    const big = new ArrayBuffer(3 * POOL_MIN_BYTES);
    const mid = new ArrayBuffer(2 * POOL_MIN_BYTES);
    pool.give(big);
    pool.give(mid);
    expect(pool.take(POOL_MIN_BYTES, true)).not.toBe(mid);
    expect(pool.take(POOL_MIN_BYTES)).toBe(mid);
    expect(pool.take(3 * POOL_MIN_BYTES, true)).toBe(big);
    expect(pool.size).toBe(0);
    expect(PCG_POOL).toBeInstanceOf(BufferPool);
  });
});
