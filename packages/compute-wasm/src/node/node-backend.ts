/**
 * The Node factory of the wasm backend: a shared `WebAssembly.Memory` and `worker_threads`.
 */
import { availableParallelism } from "node:os";
import { PruneError } from "@mama-prune/core";
import {
  compileKernels,
  createBackendFromRuntime,
  requireSimd,
  resolveMaxPages,
  type WasmBackend,
  type WasmBackendBaseOptions,
} from "../backend.ts";
import type { KernelExports } from "../kernels.ts";
import { isWasmThreadsSupported } from "../simd.ts";
import { createInlineRunner } from "../tasks.ts";
import { createWorkerPool } from "./pool.ts";

/** Default cap of the thread count (beyond 8, one matmul call rarely has enough work per thread). */
export const DEFAULT_MAX_THREADS = 8;

/** Options of {@link createWasmBackendNode}. */
export interface WasmBackendNodeOptions extends WasmBackendBaseOptions {
  /**
   * Threads computing each call, the calling thread included (it does its share and blocks until
   * the call is complete). Default: `os.availableParallelism()` capped at 8. 1 starts no worker.
   */
  readonly threads?: number;
}

/**
 * Create a WebAssembly SIMD backend that splits every large call across worker threads sharing one
 * `WebAssembly.Memory`. Call `dispose()` when done; idle workers do not keep the process alive.
 *
 * @throws PruneError BACKEND_UNAVAILABLE when WebAssembly SIMD or shared memory is missing.
 * @throws PruneError BACKEND_WORKER_FAILED when a worker cannot start.
 * @throws RangeError when `threads` is not a positive integer (≤ 256).
 * @example
 * const backend = await createWasmBackendNode({ threads: 2 });
 * const y = await backend.matmulTransB(new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 2, 1);
 * y; // Float32Array [11]
 * await backend.dispose();
 */
export async function createWasmBackendNode(options: WasmBackendNodeOptions = {}): Promise<WasmBackend> {
  const where = "compute-wasm createWasmBackendNode";
  const threads = options.threads ?? Math.min(availableParallelism(), DEFAULT_MAX_THREADS);
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new RangeError(`${where}: threads must be an integer in [1, 256], got ${String(options.threads)}`);
  }
  requireSimd(where);
  if (threads > 1 && !isWasmThreadsSupported()) {
    throw new PruneError(
      "BACKEND_UNAVAILABLE",
      `${where}: shared WebAssembly memory is not available. Expected SharedArrayBuffer and ` +
        `shared WebAssembly.Memory for threads: ${threads}, got none; use threads: 1`,
    );
  }
  const maxPages = resolveMaxPages(options.maxMemoryBytes);
  const shared = threads > 1;
  const memory = new WebAssembly.Memory({ initial: 16, maximum: maxPages, shared });
  const module = await compileKernels(shared, maxPages);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const exports = instance.exports as unknown as KernelExports;
  const runner =
    threads > 1 ? await createWorkerPool({ module, memory, exports, threads }) : createInlineRunner(exports);
  return createBackendFromRuntime(
    { memory, maxPages, exports, runner, name: `wasm-simd x${threads}` },
    options,
  );
}
