/**
 * The WebAssembly SIMD implementation of {@link ComputeBackend}: packing, the packed-weight cache,
 * work planning and copying in/out of the kernel memory. Threading is delegated to a
 * {@link TaskRunner} (inline here; a worker pool in `./node`).
 */
import { type ComputeBackend, checkMatmulShapes, type MatmulOptions, PruneError } from "@mama-prune/core";
import { WasmHeap } from "./heap.ts";
import { buildKernelModule, type KernelExports } from "./kernels.ts";
import { isWasmSimdSupported } from "./simd.ts";
import { createInlineRunner, MAX_TASKS, OP_GRAM, OP_MM, type TaskRunner } from "./tasks.ts";

/** Options shared by every factory of the wasm backend. */
export interface WasmBackendBaseOptions {
  /**
   * Byte budget of the packed-weight cache (least recently used panels are evicted beyond it).
   * Default 1 GiB; 0 disables caching (every call packs its weight).
   */
  readonly packCacheBytes?: number;
  /** Upper bound of the kernel memory in bytes (≤ 4 GiB, the wasm32 limit). Default 4 GiB. */
  readonly maxMemoryBytes?: number;
}

/** Options of {@link createWasmBackend}. */
export interface WasmBackendOptions extends WasmBackendBaseOptions {
  /**
   * Threads. Only 1 is supported by this runtime-neutral factory; use `createWasmBackendNode`
   * from `@mama-prune/compute-wasm/node` for worker threads.
   */
  readonly threads?: number;
}

/** Cache and memory figures of a backend, for diagnostics. */
export interface WasmBackendStats {
  /** Weights whose packed panels are cached. */
  readonly packedWeights: number;
  /** Bytes held by cached panels. */
  readonly packedBytes: number;
  /** Current size of the kernel memory in bytes (it never shrinks). */
  readonly memoryBytes: number;
  /** Number of weight packings done so far (cache misses). */
  readonly packCount: number;
}

/** A {@link ComputeBackend} with WebAssembly SIMD kernels and a packed-weight cache. */
export interface WasmBackend extends ComputeBackend {
  /** Threads that execute kernels (the calling thread included). */
  readonly threads: number;
  /**
   * Drop the cached panels of `w` ({@link ComputeBackend.invalidate}): call it after editing a weight
   * array in place (`LlamaModel.setLinearWeight` of `@mama-prune/model` does). A new array needs no
   * call: the cache is keyed by array identity.
   */
  invalidate(w: Float32Array): void;
  /** Drop every cached panel. */
  clearCache(): void;
  /** Cache and memory figures. */
  stats(): WasmBackendStats;
  /** Release the workers (if any) and the caches. Safe to call twice. */
  dispose(): Promise<void>;
}

/** Everything a backend instance needs: memory, kernels and a runner. @internal */
export interface WasmRuntime {
  readonly memory: WebAssembly.Memory;
  readonly maxPages: number;
  readonly exports: KernelExports;
  readonly runner: TaskRunner;
  readonly name: string;
  /** Tuning: 4-row blocks of x per matmul task (default 32, i.e. 128 rows). */
  readonly rowBlocksPerTask?: number;
}

const WHERE = "compute-wasm";
const PAGE_BYTES = 65536;
const MAX_PAGES = 65536;
/** Rows (in tile blocks of 4) of x per matmul task: 32 → 128 rows, whose K block fits in L2. */
const ROW_BLOCKS_PER_TASK = 32;
/** Rows of x summed in float32 before the partial Gram matrix is added in float64. */
const GRAM_ROW_CHUNK = 256;
/** Below this many flops a call stays on the calling thread (waking workers costs ~0.1 ms). */
const PARALLEL_MIN_FLOPS = 1 << 21;
/** Samples of the cheap weight fingerprint that detects bulk in-place edits. */
const FINGERPRINT_SAMPLES = 61;

const ceilTo = (v: number, m: number): number => Math.ceil(v / m) * m;

/**
 * Resolve the memory limit option into wasm pages.
 *
 * @throws RangeError when `maxMemoryBytes` is not in [64 KiB, 4 GiB].
 */
export function resolveMaxPages(maxMemoryBytes: number | undefined): number {
  if (maxMemoryBytes === undefined) return MAX_PAGES;
  if (
    typeof maxMemoryBytes !== "number" ||
    !Number.isFinite(maxMemoryBytes) ||
    maxMemoryBytes < PAGE_BYTES ||
    maxMemoryBytes > MAX_PAGES * PAGE_BYTES
  ) {
    throw new RangeError(
      `${WHERE}: maxMemoryBytes must be in [65536, 4294967296], got ${String(maxMemoryBytes)}`,
    );
  }
  return Math.floor(maxMemoryBytes / PAGE_BYTES);
}

/**
 * Compile the kernel module for a memory flavour (plain or shared).
 *
 * @example
 * const module = await compileKernels(false, 65536);
 */
export function compileKernels(shared: boolean, maxPages: number): Promise<WebAssembly.Module> {
  return WebAssembly.compile(buildKernelModule({ shared, maxPages }));
}

/**
 * Create a single-threaded WebAssembly SIMD backend. Works wherever WebAssembly SIMD does
 * (Node ≥ 16.4, Deno, current browsers); check {@link isWasmSimdSupported} first if unsure.
 *
 * @throws RangeError when `threads` is not 1, or an option is out of range.
 * @example
 * const backend = await createWasmBackend();
 * const y = await backend.matmulTransB(new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 2, 1);
 * y; // Float32Array [11]
 */
export async function createWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  if (options.threads !== undefined && options.threads !== 1) {
    throw new RangeError(
      `${WHERE}: createWasmBackend runs on one thread. Expected threads: 1, got ${String(options.threads)}; ` +
        `use createWasmBackendNode from "@mama-prune/compute-wasm/node" for worker threads`,
    );
  }
  const maxPages = resolveMaxPages(options.maxMemoryBytes);
  requireSimd(`${WHERE} createWasmBackend`);
  const memory = new WebAssembly.Memory({ initial: 16, maximum: maxPages });
  const module = await compileKernels(false, maxPages);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const exports = instance.exports as unknown as KernelExports;
  return createBackendFromRuntime(
    { memory, maxPages, exports, runner: createInlineRunner(exports), name: "wasm-simd x1" },
    options,
  );
}

/**
 * Throw unless WebAssembly SIMD is available.
 *
 * @throws PruneError BACKEND_UNAVAILABLE when it is not.
 * @example
 * requireSimd("my-factory");
 */
export function requireSimd(where: string): void {
  if (!isWasmSimdSupported()) {
    throw new PruneError(
      "BACKEND_UNAVAILABLE",
      `${where}: WebAssembly SIMD is not available in this runtime. Expected a runtime that ` +
        `validates f32x4 instructions (Node >= 16.4, Deno, current browsers), got none; use the ` +
        `plain JavaScript backend instead`,
    );
  }
}

/**
 * Wrap a runtime (memory + kernels + runner) into a backend. Used by the factories.
 *
 * @throws RangeError when `packCacheBytes` is negative or not a number.
 * @example
 * const backend = createBackendFromRuntime(runtime, { packCacheBytes: 0 });
 */
export function createBackendFromRuntime(
  runtime: WasmRuntime,
  options: WasmBackendBaseOptions = {},
): WasmBackend {
  const budget = options.packCacheBytes ?? 2 ** 30;
  if (typeof budget !== "number" || !(budget >= 0)) {
    throw new RangeError(`${WHERE}: packCacheBytes must be a non-negative number, got ${String(budget)}`);
  }
  return new WasmBackendImpl(runtime, budget);
}

interface PackedEntry {
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

function checkFloat32(where: string, label: string, a: unknown): void {
  if (!(a instanceof Float32Array)) {
    throw new TypeError(`${where}: ${label} must be a Float32Array, got ${describe(a)}`);
  }
}

function describe(a: unknown): string {
  if (a === null) return "null";
  if (typeof a === "object") return (a as object).constructor?.name ?? "object";
  return typeof a;
}

class WasmBackendImpl implements WasmBackend {
  readonly name: string;
  readonly threads: number;
  private readonly rt: WasmRuntime;
  private readonly heap: WasmHeap;
  private readonly budget: number;
  private readonly byWeight = new WeakMap<Float32Array, PackedEntry>();
  private readonly lru = new Set<PackedEntry>(); // insertion order = recency
  private readonly finalizer: FinalizationRegistry<PackedEntry>;
  private cachedBytes = 0;
  private queue: Promise<void> = Promise.resolve();
  private busy = false;
  private readonly pendingFree: number[] = [];
  private packCount = 0;
  private tasks = new Int32Array(4 * 64);
  private disposed = false;

  constructor(rt: WasmRuntime, budget: number) {
    this.rt = rt;
    this.name = rt.name;
    this.threads = rt.runner.threads;
    this.heap = new WasmHeap(rt.memory, rt.maxPages);
    this.budget = budget;
    // When a weight array is garbage-collected its panels are freed (if still cached).
    this.finalizer = new FinalizationRegistry((entry) => {
      if (this.lru.has(entry)) this.evict(entry);
    });
  }

  // ---- ComputeBackend ----
  // Calls are serialized: they share the scratch memory and the workers. With the inline and the
  // Node runners a call runs to completion synchronously anyway; with an asynchronous runner
  // (browser main thread) the queue keeps a second call from starting while workers still run.

  matmulTransB(
    x: Float32Array,
    w: Float32Array,
    m: number,
    k: number,
    n: number,
    options?: MatmulOptions,
  ): Promise<Float32Array> {
    return this.serial(`${WHERE} matmulTransB`, () => this.matmulImpl(x, w, m, k, n, options));
  }

  gramAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    return this.serial(`${WHERE} gramAccumulate`, () => this.gramImpl(x, m, k, acc));
  }

  colSqNormAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    return this.serial(`${WHERE} colSqNormAccumulate`, () => this.colSqImpl(x, m, k, acc));
  }

  private serial<T>(where: string, f: () => Promise<T>): Promise<T> {
    if (this.disposed) {
      return Promise.reject(new RangeError(`${where}: the backend was disposed`));
    }
    const r = this.queue.then(f, f);
    this.queue = r.then(
      () => undefined,
      () => undefined,
    );
    return r;
  }

  private async matmulImpl(
    x: Float32Array,
    w: Float32Array,
    m: number,
    k: number,
    n: number,
    options?: MatmulOptions,
  ): Promise<Float32Array> {
    const where = `${WHERE} matmulTransB`;
    checkFloat32(where, "x", x);
    checkFloat32(where, "w", w);
    if (options?.bias !== undefined) checkFloat32(where, "bias", options.bias);
    if (options?.out !== undefined) checkFloat32(where, "out", options.out);
    checkMatmulShapes(where, x, w, m, k, n, options);
    const bias = options?.bias;
    const y = options?.out ?? new Float32Array(m * n); // (m, n)
    if (m === 0 || n === 0) return y;
    if (k === 0) {
      for (let i = 0; i < m; i++) {
        if (bias) y.set(bias, i * n);
        else y.fill(0, i * n, (i + 1) * n);
      }
      return y;
    }
    const kPad = ceilTo(k, 4);
    const nPad = ceilTo(n, 8);
    const mPad = ceilTo(m, 4);
    const heap = this.heap;
    let wp: PackedEntry | undefined;
    let xp = 0;
    let yp = 0;
    let bp = 0;
    try {
      wp = this.packedWeight(w, n, k);
      xp = heap.alloc(mPad * kPad * 4);
      yp = heap.alloc(mPad * nPad * 4);
      if (bias) bp = heap.alloc(nPad * 4);
      const f32 = new Float32Array(this.rt.memory.buffer);
      packRowBlocks(f32, xp >>> 2, x, m, k, mPad, kPad);
      if (bias) {
        f32.set(bias, bp >>> 2);
        f32.fill(0, (bp >>> 2) + n, (bp >>> 2) + nPad);
      }
      const count = this.planMatmul(mPad / 4, nPad / 8);
      await this.runTasks(
        OP_MM,
        [xp, wp.ptr, yp, bp, kPad, nPad],
        this.tasks,
        count,
        2 * m * k * n >= PARALLEL_MIN_FLOPS,
      );
      const out = new Float32Array(this.rt.memory.buffer, yp, mPad * nPad); // (mPad, nPad)
      if (nPad === n) y.set(out.subarray(0, m * n));
      else for (let i = 0; i < m; i++) y.set(out.subarray(i * nPad, i * nPad + n), i * n);
    } finally {
      heap.free(xp);
      heap.free(yp);
      heap.free(bp);
      if (wp && !this.lru.has(wp)) heap.free(wp.ptr); // uncached (budget 0 or too large)
    }
    return y;
  }

  private async gramImpl(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    const where = `${WHERE} gramAccumulate`;
    checkFloat32(where, "x", x);
    if (!(acc instanceof Float64Array)) {
      throw new TypeError(`${where}: acc must be a Float64Array, got ${describe(acc)}`);
    }
    checkDims(where, m, k);
    if (x.length !== m * k)
      throw new RangeError(`${where}: x has ${x.length} elements, expected m·k = ${m * k}`);
    if (acc.length !== k * k)
      throw new RangeError(`${where}: acc has ${acc.length} elements, expected k·k = ${k * k}`);
    if (m === 0 || k === 0) return;
    const kp = ceilTo(k, 8);
    const chunk = Math.min(GRAM_ROW_CHUNK, ceilTo(m, 4));
    const heap = this.heap;
    let ap = 0;
    let bp = 0;
    let gp = 0;
    let sp = 0;
    try {
      ap = heap.alloc(kp * chunk * 4);
      bp = heap.alloc(kp * chunk * 4);
      gp = heap.alloc(kp * kp * 4);
      sp = heap.alloc(kp * kp * 8);
      new Float64Array(this.rt.memory.buffer, sp, kp * kp).fill(0);
      const count = this.planGram(kp);
      for (let i0 = 0; i0 < m; i0 += GRAM_ROW_CHUNK) {
        const mc = Math.min(GRAM_ROW_CHUNK, m - i0);
        const mcPad = ceilTo(mc, 4);
        const f32 = new Float32Array(this.rt.memory.buffer);
        packColumnBlocks(f32, ap >>> 2, x, i0, mc, mcPad, k, kp, 4);
        packColumnBlocks(f32, bp >>> 2, x, i0, mc, mcPad, k, kp, 8);
        await this.runTasks(
          OP_GRAM,
          [ap, bp, gp, sp, mcPad, kp],
          this.tasks,
          count,
          mc * k * k >= PARALLEL_MIN_FLOPS,
        );
      }
      foldInto(new Float64Array(this.rt.memory.buffer, sp, kp * kp), kp, acc, k);
    } finally {
      heap.free(ap);
      heap.free(bp);
      heap.free(gp);
      heap.free(sp);
    }
  }

  private async colSqImpl(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    const where = `${WHERE} colSqNormAccumulate`;
    checkFloat32(where, "x", x);
    if (!(acc instanceof Float64Array)) {
      throw new TypeError(`${where}: acc must be a Float64Array, got ${describe(acc)}`);
    }
    checkDims(where, m, k);
    if (x.length !== m * k)
      throw new RangeError(`${where}: x has ${x.length} elements, expected m·k = ${m * k}`);
    if (acc.length !== k) throw new RangeError(`${where}: acc has ${acc.length} elements, expected k = ${k}`);
    if (m === 0 || k === 0) return;
    const kPad = ceilTo(k, 4);
    // Bound the scratch: rows are streamed through in chunks of ≤ 4 MiB.
    const rowsPerChunk = Math.max(1, Math.min(m, Math.floor((4 << 20) / (kPad * 4))));
    const heap = this.heap;
    let xp = 0;
    let ap = 0;
    try {
      xp = heap.alloc(rowsPerChunk * kPad * 4);
      ap = heap.alloc(kPad * 8);
      const buf = this.rt.memory.buffer;
      const a64 = new Float64Array(buf, ap, kPad); // (kPad,)
      a64.fill(0);
      const f32 = new Float32Array(buf);
      for (let i0 = 0; i0 < m; i0 += rowsPerChunk) {
        const rows = Math.min(rowsPerChunk, m - i0);
        const base = xp >>> 2;
        if (kPad === k) f32.set(x.subarray(i0 * k, (i0 + rows) * k), base);
        else {
          for (let i = 0; i < rows; i++) {
            f32.set(x.subarray((i0 + i) * k, (i0 + i + 1) * k), base + i * kPad);
            f32.fill(0, base + i * kPad + k, base + (i + 1) * kPad);
          }
        }
        this.rt.exports.colsq(xp, ap, kPad, rows);
      }
      for (let j = 0; j < k; j++) acc[j] = (acc[j] as number) + (a64[j] as number);
    } finally {
      heap.free(xp);
      heap.free(ap);
    }
  }

  // ---- Cache ----

  invalidate(w: Float32Array): void {
    const e = this.byWeight.get(w);
    if (e && this.lru.has(e)) this.evict(e);
    this.byWeight.delete(w);
  }

  clearCache(): void {
    for (const e of [...this.lru]) this.evict(e);
  }

  stats(): WasmBackendStats {
    return {
      packedWeights: this.lru.size,
      packedBytes: this.cachedBytes,
      memoryBytes: this.heap.memoryBytes,
      packCount: this.packCount,
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true; // new calls are refused from now on
    await this.queue; // let queued and in-flight calls finish first
    this.clearCache();
    await this.rt.runner.dispose();
  }

  // ---- Internals ----

  /** Run tasks; while an asynchronous runner waits, evicted panels are freed only afterwards. */
  private async runTasks(
    op: number,
    args: readonly number[],
    tasks: Int32Array,
    count: number,
    parallel: boolean,
  ): Promise<void> {
    this.busy = true;
    try {
      await this.rt.runner.run(op, args, tasks, count, parallel);
    } finally {
      this.busy = false;
      for (const p of this.pendingFree.splice(0)) this.heap.free(p);
    }
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

  /** Packed panels of w: from the cache when w (same array, same shape, same samples) was seen. */
  private packedWeight(w: Float32Array, n: number, k: number): PackedEntry {
    const fp = fingerprint(w);
    const hit = this.byWeight.get(w);
    if (hit && this.lru.has(hit)) {
      if (hit.n === n && hit.k === k && hit.fingerprint === fp) {
        this.lru.delete(hit);
        this.lru.add(hit); // most recently used
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
    packPanels(new Float32Array(this.rt.memory.buffer), ptr >>> 2, w, n, k, nPad, kPad);
    this.packCount++;
    const entry: PackedEntry = { ptr, bytes, n, k, fingerprint: fp, ref: new WeakRef(w) };
    if (cacheable) {
      this.lru.add(entry);
      this.cachedBytes += bytes;
      this.byWeight.set(w, entry);
      this.finalizer.register(w, entry, entry);
    }
    return entry;
  }

  private ensureTasks(count: number): Int32Array {
    if (this.tasks.length < 4 * count) this.tasks = new Int32Array(4 * count);
    return this.tasks;
  }

  /** Tasks of a matmul: row ranges of ≤ 128 rows × panel groups sized for load balance. */
  private planMatmul(rowBlocks: number, panels: number): number {
    let rb = Math.min(rowBlocks, this.rt.rowBlocksPerTask ?? ROW_BLOCKS_PER_TASK);
    let rowTasks = Math.ceil(rowBlocks / rb);
    while (rowTasks > MAX_TASKS) {
      rb *= 2;
      rowTasks = Math.ceil(rowBlocks / rb);
    }
    const threads = this.rt.runner.threads;
    // Enough tasks (≥ 8 per thread) for dynamic load balance on a busy machine: a thread that
    // loses its core to another process for a while just claims fewer tasks.
    const wantSplits = threads === 1 ? 1 : Math.ceil((8 * threads) / rowTasks);
    const panelSplits = Math.max(1, Math.min(panels, wantSplits, Math.floor(MAX_TASKS / rowTasks)));
    const pg = Math.ceil(panels / panelSplits);
    const t = this.ensureTasks(rowTasks * Math.ceil(panels / pg));
    let c = 0;
    for (let p0 = 0; p0 < panels; p0 += pg) {
      for (let ib0 = 0; ib0 < rowBlocks; ib0 += rb) {
        t[4 * c] = ib0;
        t[4 * c + 1] = Math.min(rowBlocks, ib0 + rb);
        t[4 * c + 2] = p0;
        t[4 * c + 3] = Math.min(panels, p0 + pg);
        c++;
      }
    }
    return c;
  }

  /** Tasks of a Gram block: the upper triangle of (kp/b)² super-tiles of b×b outputs. */
  private planGram(kp: number): number {
    let b = 64;
    let nb = Math.ceil(kp / b);
    while ((nb * (nb + 1)) / 2 > MAX_TASKS) {
      b *= 2;
      nb = Math.ceil(kp / b);
    }
    const t = this.ensureTasks((nb * (nb + 1)) / 2);
    let c = 0;
    for (let bi = 0; bi < nb; bi++) {
      for (let bj = bi; bj < nb; bj++) {
        t[4 * c] = (bi * b) / 4;
        t[4 * c + 1] = Math.min(kp, (bi + 1) * b) / 4;
        t[4 * c + 2] = (bj * b) / 8;
        t[4 * c + 3] = Math.min(kp, (bj + 1) * b) / 8;
        c++;
      }
    }
    return c;
  }
}

function checkDims(where: string, m: number, k: number): void {
  for (const [label, v] of [
    ["m", m],
    ["k", k],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`${where}: ${label} must be a non-negative integer, got ${v}`);
  }
}

// ---- Packing ----

/**
 * x [m, k] → 4-row blocks [mPad/4][kPad][4] at f32 index `base`, zero padded. Four source rows are
 * walked together so the destination is written sequentially (≈5× faster than row by row).
 */
function packRowBlocks(
  f32: Float32Array,
  base: number,
  x: Float32Array,
  m: number,
  k: number,
  mPad: number,
  kPad: number,
): void {
  if (mPad !== m || kPad !== k) f32.fill(0, base, base + mPad * kPad);
  const full = m & ~3;
  for (let i = 0; i < full; i += 4) {
    let d = base + i * kPad;
    const s0 = i * k;
    const s1 = s0 + k;
    const s2 = s1 + k;
    const s3 = s2 + k;
    for (let t = 0; t < k; t++, d += 4) {
      f32[d] = x[s0 + t] as number;
      f32[d + 1] = x[s1 + t] as number;
      f32[d + 2] = x[s2 + t] as number;
      f32[d + 3] = x[s3 + t] as number;
    }
  }
  for (let i = full; i < m; i++) {
    let d = base + full * kPad + (i & 3);
    const s = i * k;
    for (let t = 0; t < k; t++, d += 4) f32[d] = x[s + t] as number;
  }
}

/** w [n, k] → 8-column panels [nPad/8][kPad][8] at f32 index `base`, zero padded. */
function packPanels(
  f32: Float32Array,
  base: number,
  w: Float32Array,
  n: number,
  k: number,
  nPad: number,
  kPad: number,
): void {
  if (nPad !== n || kPad !== k) f32.fill(0, base, base + nPad * kPad);
  const full = n & ~7;
  for (let j = 0; j < full; j += 8) {
    let d = base + j * kPad;
    const s0 = j * k;
    for (let t = 0; t < k; t++, d += 8) {
      const s = s0 + t;
      f32[d] = w[s] as number;
      f32[d + 1] = w[s + k] as number;
      f32[d + 2] = w[s + 2 * k] as number;
      f32[d + 3] = w[s + 3 * k] as number;
      f32[d + 4] = w[s + 4 * k] as number;
      f32[d + 5] = w[s + 5 * k] as number;
      f32[d + 6] = w[s + 6 * k] as number;
      f32[d + 7] = w[s + 7 * k] as number;
    }
  }
  for (let j = full; j < n; j++) {
    let d = base + full * kPad + (j & 7);
    const s = j * k;
    for (let t = 0; t < k; t++, d += 8) f32[d] = w[s + t] as number;
  }
}

/**
 * Rows [i0, i0 + mc) of x [*, k], seen as xᵀ [k, mc], → blocks of `width` columns of x:
 * [kp/width][mcPad][width] at f32 index `base`, zero padded (width 4: the kernel's x operand,
 * width 8: its weight panels). Each destination block is written sequentially.
 */
function packColumnBlocks(
  f32: Float32Array,
  base: number,
  x: Float32Array,
  i0: number,
  mc: number,
  mcPad: number,
  k: number,
  kp: number,
  width: number,
): void {
  if (mcPad !== mc || kp !== k) f32.fill(0, base, base + kp * mcPad);
  const fullCols = k - (k % width);
  for (let c0 = 0; c0 < fullCols; c0 += width) {
    let d = base + c0 * mcPad;
    let s = i0 * k + c0;
    if (width === 4) {
      for (let ii = 0; ii < mc; ii++, d += 4, s += k) {
        f32[d] = x[s] as number;
        f32[d + 1] = x[s + 1] as number;
        f32[d + 2] = x[s + 2] as number;
        f32[d + 3] = x[s + 3] as number;
      }
    } else {
      for (let ii = 0; ii < mc; ii++, d += 8, s += k) {
        f32[d] = x[s] as number;
        f32[d + 1] = x[s + 1] as number;
        f32[d + 2] = x[s + 2] as number;
        f32[d + 3] = x[s + 3] as number;
        f32[d + 4] = x[s + 4] as number;
        f32[d + 5] = x[s + 5] as number;
        f32[d + 6] = x[s + 6] as number;
        f32[d + 7] = x[s + 7] as number;
      }
    }
  }
  if (fullCols < k) {
    const d0 = base + fullCols * mcPad;
    for (let ii = 0; ii < mc; ii++) {
      const s = (i0 + ii) * k;
      for (let c = fullCols; c < k; c++) f32[d0 + ii * width + (c - fullCols)] = x[s + c] as number;
    }
  }
}

/** acc[a, b] += s[a, b] (s is complete: the kernels mirrored the upper triangle into the lower). */
function foldInto(s: Float64Array, kp: number, acc: Float64Array, k: number): void {
  if (kp === k) {
    for (let i = 0; i < k * k; i++) acc[i] = (acc[i] as number) + (s[i] as number);
    return;
  }
  for (let a = 0; a < k; a++) {
    const sRow = a * kp;
    const aRow = a * k;
    for (let b = 0; b < k; b++) acc[aRow + b] = (acc[aRow + b] as number) + (s[sRow + b] as number);
  }
}
