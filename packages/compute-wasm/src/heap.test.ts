import { describe, expect, it } from "vitest";
import { HEAP_ALIGN, WasmHeap } from "./heap.ts";

const PAGE = 65536;

describe("WasmHeap", () => {
  it("hands out aligned, disjoint, non-zero blocks", () => {
    const heap = new WasmHeap(new WebAssembly.Memory({ initial: 1, maximum: 4 }), 4);
    const a = heap.alloc(10);
    const b = heap.alloc(100);
    expect(a).toBeGreaterThan(0);
    expect(a % HEAP_ALIGN).toBe(0);
    expect(b % HEAP_ALIGN).toBe(0);
    expect(b).toBeGreaterThanOrEqual(a + 64);
    expect(heap.usedBytes).toBe(64 + 128);
  });

  it("reuses and coalesces freed blocks", () => {
    const heap = new WasmHeap(new WebAssembly.Memory({ initial: 1, maximum: 4 }), 4);
    const a = heap.alloc(64);
    const b = heap.alloc(64);
    const c = heap.alloc(64);
    heap.alloc(64); // keeps c's neighbour busy
    heap.free(a);
    heap.free(b);
    expect(heap.alloc(128)).toBe(a); // a and b merged
    heap.free(c);
    expect(heap.alloc(64)).toBe(c);
  });

  it("grows the memory and refuses to pass its maximum", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 3 });
    const heap = new WasmHeap(memory, 3);
    const p = heap.alloc(2 * PAGE);
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(p + 2 * PAGE);
    expect(() => heap.alloc(2 * PAGE)).toThrow(/maxMemoryBytes/);
    heap.free(p);
    expect(heap.alloc(2 * PAGE)).toBe(p);
  });

  it("rejects double frees", () => {
    const heap = new WasmHeap(new WebAssembly.Memory({ initial: 1, maximum: 1 }), 1);
    const p = heap.alloc(8);
    heap.free(p);
    expect(() => heap.free(p)).toThrow(RangeError);
    heap.free(0); // no-op
  });
});
