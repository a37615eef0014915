/**
 * The WebAssembly SIMD implementation of {@link ComputeBackend}: its public types and the
 * runtime-neutral factory. The calls are in ./backend-impl.ts, packing in ./packing.ts, the
 * packed-weight cache in ./weight-cache.ts, work planning in ./task-plan.ts. Threading is delegated
 * to a {@link TaskRunner} (inline here; a worker pool in `./node`).
 */
import { type AttentionLayout, type ComputeBackend, PruneError } from "@mama-prune/core";
import { WasmBackendImpl } from "./backend-impl.ts";
import { buildKernelModule, type KernelExports } from "./kernels.ts";
import { isWasmSimdSupported } from "./simd.ts";
import { createInlineRunner, type TaskRunner } from "./tasks.ts";

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
  /**
   * Fused causal attention over windows ({@link ComputeBackend.causalAttentionWindows}): one task per
   * (window, query head) on the backend's threads, bitwise equal to the QKᵀ/P·V `matmulTransB` path.
   * Resolves false for a head dim that is not a multiple of 4.
   */
  causalAttentionWindows(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    batch: number,
    seqLen: number,
    heads: AttentionLayout,
  ): Promise<boolean>;
  /**
   * out = silu(gate)·up elementwise ({@link ComputeBackend.swiglu}) on all threads, bitwise equal to
   * `@mama-prune/model`'s `swiglu` on float32 arrays; `out` may be `gate`.
   */
  swiglu(gate: Float32Array, up: Float32Array, out: Float32Array): Promise<void>;
  /**
   * Row max and Σ exp(y − max) of a float32 matrix ({@link ComputeBackend.rowMaxSumExp}) on all
   * threads, bitwise equal to the JavaScript loops.
   */
  rowMaxSumExp(y: Float32Array, rows: number, n: number, max: Float64Array, sum: Float64Array): Promise<void>;
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
