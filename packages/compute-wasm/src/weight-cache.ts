/**
 * The packed-weight cache of the wasm backend: weight panels packed once into the kernel memory and
 * kept per weight array (a `WeakMap` keyed by the `Float32Array`), with an LRU byte budget and a
 * `FinalizationRegistry` that frees the panels of a garbage-collected array. `invalidate` drops an
 * array whose contents changed in place (the `ComputeBackend` contract); a 61-sample fingerprint is
 * a safety net for bulk edits. @internal
 */
import type { WasmHeap } from "./heap.ts";
import { packPanels } from "./packing.ts";

/** Samples of the cheap weight fingerprint that detects bulk in-place edits. */
const FINGERPRINT_SAMPLES = 61;

const ceilTo = (v: number, m: number): number => Math.ceil(v / m) * m;

/** Packed panels of one weight [n, k] at byte offset `ptr` of the kernel memory. */
export interface PackedEntry {
  ptr: number;
  bytes: number;
  n: number;
  k: number;
  fingerprint: number;
  readonly ref: WeakRef<Float32Array>;
}

function fingerprint(w: Float32Array): number {
  const bits = new Uint32Array(w.buffer, w.byteOffset, w.length);
  let h = 0x811c9dc5 ^ w.length;
  const len = bits.length;
  if (len === 0) return h;
  for (let j = 0; j < FINGERPRINT_SAMPLES; j++) {
    const i = Math.floor((j * (len - 1)) / (FINGERPRINT_SAMPLES - 1));
    h = Math.imul(h ^ (bits[i] as number), 0x01000193);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

/** Packed weight panels by array identity, least recently used evicted beyond a byte budget. */
export class PackedWeightCache {
  private readonly heap: WasmHeap;
  private readonly memory: WebAssembly.Memory;
  private readonly budget: number;
  private readonly byWeight = new WeakMap<Float32Array, PackedEntry>();
  private readonly lru = new Set<PackedEntry>(); // insertion order = recency
  private readonly finalizer: FinalizationRegistry<PackedEntry>;
  private cachedBytes = 0;
  private busy = false;
  private readonly pendingFree: number[] = [];
  private packs = 0;
  private readonly inUse = new Set<PackedEntry>(); // acquired by the call in progress

  constructor(heap: WasmHeap, memory: WebAssembly.Memory, budget: number) {
    this.heap = heap;
    this.memory = memory;
    this.budget = budget;
    // Cached panels never make the memory grow past the heap's relieve threshold: the least recently
    // used ones (not in use by the call in progress) are freed first.
    heap.relieve = () => this.evictOne();
    // When a weight array is garbage-collected its panels are freed (if still cached).
    this.finalizer = new FinalizationRegistry((entry) => {
      if (this.lru.has(entry)) this.evict(entry);
    });
  }

  /** Weights whose panels are cached. */
  get packedWeights(): number {
    return this.lru.size;
  }

  /** Bytes held by cached panels. */
  get packedBytes(): number {
    return this.cachedBytes;
  }

  /** Weight packings done so far (cache misses). */
  get packCount(): number {
    return this.packs;
  }

  /** Packed panels of w: from the cache when w (same array, same shape, same samples) was seen. */
  acquire(w: Float32Array, n: number, k: number): PackedEntry {
    const fp = fingerprint(w);
    const hit = this.byWeight.get(w);
    if (hit && this.lru.has(hit)) {
      if (hit.n === n && hit.k === k && hit.fingerprint === fp) {
        this.lru.delete(hit);
        this.lru.add(hit); // most recently used
        this.inUse.add(hit);
        return hit;
      }
      this.evict(hit);
    }
    const kPad = ceilTo(k, 4);
    const nPad = ceilTo(n, 8);
    const bytes = nPad * kPad * 4;
    const cacheable = bytes <= this.budget;
    if (cacheable) {
      // Make room first so the freed blocks can be reused by this packing.
      for (const e of this.lru) {
        if (this.cachedBytes + bytes <= this.budget) break;
        this.evict(e);
      }
    }
    const ptr = this.heap.alloc(bytes);
    packPanels(new Float32Array(this.memory.buffer), ptr >>> 2, w, n, k, nPad, kPad);
    this.packs++;
    const entry: PackedEntry = { ptr, bytes, n, k, fingerprint: fp, ref: new WeakRef(w) };
    this.inUse.add(entry);
    if (cacheable) {
      this.lru.add(entry);
      this.cachedBytes += bytes;
      this.byWeight.set(w, entry);
      this.finalizer.register(w, entry, entry);
    }
    return entry;
  }

  /** End of a call that used `e`: free it unless it is cached (budget 0 or too large). */
  release(e: PackedEntry): void {
    this.inUse.delete(e);
    if (!this.lru.has(e)) this.heap.free(e.ptr);
  }

  /**
   * Free the least recently used cached panels that no call is using (the heap's `relieve`); false
   * when there are none, or while kernels run (evicted panels are only freed at {@link endRun}).
   */
  evictOne(): boolean {
    if (this.busy) return false;
    for (const e of this.lru) {
      if (this.inUse.has(e)) continue;
      this.evict(e);
      return true;
    }
    return false;
  }

  /** Drop the panels of `w` (its contents changed in place). */
  invalidate(w: Float32Array): void {
    const e = this.byWeight.get(w);
    if (e && this.lru.has(e)) this.evict(e);
    this.byWeight.delete(w);
  }

  /** Drop every cached panel. */
  clear(): void {
    for (const e of [...this.lru]) this.evict(e);
  }

  /** Kernels are running (workers may read panels): evicted panels are freed only at {@link endRun}. */
  beginRun(): void {
    this.busy = true;
  }

  /** The kernels finished: free the panels evicted meanwhile. */
  endRun(): void {
    this.busy = false;
    for (const p of this.pendingFree.splice(0)) this.heap.free(p);
  }

  private evict(e: PackedEntry): void {
    this.lru.delete(e);
    this.cachedBytes -= e.bytes;
    // Panels may be in use by workers of an in-flight call: free them when it ends.
    if (this.busy) this.pendingFree.push(e.ptr);
    else this.heap.free(e.ptr);
    this.finalizer.unregister(e);
    const key = e.ref.deref();
    if (key && this.byWeight.get(key) === e) this.byWeight.delete(key);
  }
}
