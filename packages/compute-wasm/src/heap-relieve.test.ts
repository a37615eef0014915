import { describe, expect, it } from "vitest";
import { RELIEVE_FROM_BYTES, WasmHeap } from "./heap.ts";
import { PackedWeightCache } from "./weight-cache.ts";

const PAGE = 65536;

describe("WasmHeap relieve", () => {
  it("asks relieve before growing once the memory holds relieveFromBytes, and not below", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 64 });
    const heap = new WasmHeap(memory, 64);
    expect(heap.relieveFromBytes).toBe(RELIEVE_FROM_BYTES);
    const held: number[] = [];
    let asked = 0;
    heap.relieve = () => {
      asked++;
      const p = held.shift();
      if (p === undefined) return false;
      heap.free(p);
      return true;
    };
    heap.relieveFromBytes = 4 * PAGE;
    held.push(heap.alloc(2 * PAGE)); // below the threshold: grows, relieve not asked
    expect(asked).toBe(0);
    held.push(heap.alloc(2 * PAGE));
    const size = memory.buffer.byteLength;
    expect(size).toBeGreaterThanOrEqual(4 * PAGE);
    // Full now: the next block comes from what relieve frees, not from growth.
    const p = heap.alloc(2 * PAGE);
    expect(asked).toBeGreaterThan(0);
    expect(memory.buffer.byteLength).toBe(size);
    expect(p).toBeLessThan(size);
    // Nothing left to free: the memory grows after all.
    heap.alloc(size);
    expect(memory.buffer.byteLength).toBeGreaterThan(size);
  });
});

describe("PackedWeightCache under memory pressure", () => {
  it("evicts least recently used panels instead of growing the memory, never those of the call in progress", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 256 });
    const heap = new WasmHeap(memory, 256);
    heap.relieveFromBytes = 8 * PAGE;
    const cache = new PackedWeightCache(heap, memory, 1 << 30); // a budget that never binds
    const n = 128;
    const k = 128; // 64 KiB of panels per weight
    const ws = Array.from({ length: 24 }, (_, i) => new Float32Array(n * k).fill(i + 1));
    for (const w of ws) cache.release(cache.acquire(w, n, k));
    // Without relieve the 24 weights (1.5 MiB) would all be cached; the memory stops near 8 pages.
    expect(memory.buffer.byteLength).toBeLessThanOrEqual(16 * PAGE);
    expect(cache.packedWeights).toBeLessThan(24);
    expect(cache.packedWeights).toBeGreaterThan(0);
    // The most recent weight is still cached (LRU), the first one is not.
    const packs = cache.packCount;
    cache.release(cache.acquire(ws[23]!, n, k));
    expect(cache.packCount).toBe(packs);
    cache.release(cache.acquire(ws[0]!, n, k));
    expect(cache.packCount).toBe(packs + 1);
    // An acquired entry survives the pressure its own call's allocations create.
    const e = cache.acquire(ws[5]!, n, k);
    const scratch = heap.alloc(6 * PAGE);
    // The scratch does not overlap its panels (they were not freed to make room).
    expect(scratch >= e.ptr + e.bytes || scratch + 6 * PAGE <= e.ptr).toBe(true);
    expect(Array.from(new Float32Array(memory.buffer, e.ptr, 4))).toEqual([6, 6, 6, 6]);
    heap.free(scratch);
    cache.release(e);
    // While kernels run, nothing is evicted on pressure.
    cache.beginRun();
    expect(cache.evictOne()).toBe(false);
    cache.endRun();
    expect(cache.evictOne()).toBe(true);
  });
});
