/**
 * A first-fit allocator over a `WebAssembly.Memory`, run from JavaScript. The kernels only see byte
 * offsets; this class decides where packed weights and per-call scratch live, and grows the memory
 * when nothing fits. Blocks are 64-byte aligned (a cache line, and v128 alignment).
 */

/** Alignment of every block, in bytes. */
export const HEAP_ALIGN = 64;
/** Bytes at address 0 that are never handed out, so pointer 0 can mean "absent". */
const RESERVED_BYTES = HEAP_ALIGN;
const PAGE_BYTES = 65536;
/** Default {@link WasmHeap.relieveFromBytes}: below it the memory grows freely (caching included). */
export const RELIEVE_FROM_BYTES: number = 256 * 2 ** 20;

interface FreeBlock {
  ptr: number;
  size: number;
}

/**
 * Allocator for the kernel memory.
 *
 * @example
 * const heap = new WasmHeap(new WebAssembly.Memory({ initial: 1, maximum: 16 }), 16);
 * const p = heap.alloc(1000); heap.free(p);
 */
export class WasmHeap {
  /** The memory being managed. */
  readonly memory: WebAssembly.Memory;
  private readonly maxPages: number;
  private readonly free_: FreeBlock[] = []; // sorted by ptr, coalesced
  private readonly used = new Map<number, number>(); // ptr → size
  private top = RESERVED_BYTES;
  /**
   * Asked to free something (e.g. cached panels) before the memory grows, once it holds at least
   * {@link relieveFromBytes}: returns whether it freed a block (the allocation is then retried).
   * A WebAssembly memory never shrinks, so every growth stays resident for the process.
   */
  relieve: (() => boolean) | undefined = undefined;
  /** Memory size from which {@link relieve} is asked before growing (default 256 MiB). */
  relieveFromBytes: number = RELIEVE_FROM_BYTES;

  constructor(memory: WebAssembly.Memory, maxPages: number) {
    this.memory = memory;
    this.maxPages = maxPages;
  }

  /** Bytes currently handed out. */
  get usedBytes(): number {
    let s = 0;
    for (const v of this.used.values()) s += v;
    return s;
  }

  /** Current size of the memory in bytes. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * Allocate `bytes` (rounded up to 64) and return the block's byte offset (never 0).
   *
   * @throws RangeError when the memory cannot grow enough (its maximum is reached).
   */
  alloc(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0) {
      throw new RangeError(`WasmHeap.alloc: bytes must be a non-negative integer, got ${bytes}`);
    }
    const size = Math.max(HEAP_ALIGN, Math.ceil(bytes / HEAP_ALIGN) * HEAP_ALIGN);
    for (;;) {
      const ptr = this.allocWithin(size);
      if (ptr !== 0) return ptr;
      const relieve = this.relieve;
      if (relieve === undefined || this.memory.buffer.byteLength < this.relieveFromBytes || !relieve()) break;
    }
    const ptr = this.top;
    const end = ptr + size;
    const have = this.memory.buffer.byteLength;
    const needPages = Math.ceil((end - have) / PAGE_BYTES);
    const havePages = have / PAGE_BYTES;
    // Grow geometrically (×1.5) to keep the number of grow calls small, within the maximum.
    const wantPages = Math.min(this.maxPages - havePages, Math.max(needPages, Math.ceil(havePages / 2)));
    if (wantPages < needPages) {
      throw new RangeError(
        `compute-wasm: cannot allocate ${size} bytes of WebAssembly memory. Expected at most ` +
          `${this.maxPages * PAGE_BYTES} bytes in total (maxMemoryBytes), got a request ` +
          `needing ${end}`,
      );
    }
    this.memory.grow(wantPages);
    this.top = end;
    this.used.set(ptr, size);
    return ptr;
  }

  /** First fit among the free blocks, else the bump region when it fits the memory as it is; 0 if neither. */
  private allocWithin(size: number): number {
    for (let i = 0; i < this.free_.length; i++) {
      const b = this.free_[i] as FreeBlock;
      if (b.size >= size) {
        const ptr = b.ptr;
        if (b.size === size) this.free_.splice(i, 1);
        else {
          b.ptr += size;
          b.size -= size;
        }
        this.used.set(ptr, size);
        return ptr;
      }
    }
    const ptr = this.top;
    if (ptr + size > this.memory.buffer.byteLength) return 0;
    this.top = ptr + size;
    this.used.set(ptr, size);
    return ptr;
  }

  /**
   * Return a block to the allocator. Freeing 0 is a no-op.
   *
   * @throws RangeError when `ptr` was not allocated (or was already freed).
   */
  free(ptr: number): void {
    if (ptr === 0) return;
    const size = this.used.get(ptr);
    if (size === undefined) throw new RangeError(`WasmHeap.free: ${ptr} is not an allocated block`);
    this.used.delete(ptr);
    // Insert sorted, then coalesce with the neighbours.
    let i = 0;
    while (i < this.free_.length && (this.free_[i] as FreeBlock).ptr < ptr) i++;
    this.free_.splice(i, 0, { ptr, size });
    const next = this.free_[i + 1];
    const cur = this.free_[i] as FreeBlock;
    if (next && cur.ptr + cur.size === next.ptr) {
      cur.size += next.size;
      this.free_.splice(i + 1, 1);
    }
    const prev = this.free_[i - 1];
    if (prev && prev.ptr + prev.size === cur.ptr) {
      prev.size += cur.size;
      this.free_.splice(i, 1);
      i--;
    }
    // A free block at the top shrinks the bump region instead.
    const last = this.free_[this.free_.length - 1];
    if (last && last.ptr + last.size === this.top) {
      this.top = last.ptr;
      this.free_.pop();
    }
  }
}
