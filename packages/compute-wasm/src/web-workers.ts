/**
 * The Web Worker factory of the wasm backend (browsers, Deno): module workers created from a Blob
 * URL run the same worker program as the Node pool, over a shared `WebAssembly.Memory`.
 */
import { PruneError } from "@mama-prune/core";
import {
  compileKernels,
  createBackendFromRuntime,
  requireSimd,
  resolveMaxPages,
  type WasmBackend,
  type WasmBackendBaseOptions,
} from "./backend.ts";
import type { KernelExports } from "./kernels.ts";
import { CONTROL_BYTES, createSharedRunner, WORKER_FUNCTION_SOURCE } from "./shared-pool.ts";
import { isWasmThreadsSupported } from "./simd.ts";

/** The part of the Web `Worker` interface the pool uses. */
export interface WebWorkerLike {
  postMessage(message: unknown): void;
  terminate(): void;
  addEventListener(type: "message" | "error", listener: (event: unknown) => void): void;
}

/** Options of {@link createWasmBackendWorkers}. */
export interface WasmBackendWorkersOptions extends WasmBackendBaseOptions {
  /**
   * Threads, the calling thread included (`threads - 1` workers). Default: the runtime's
   * `navigator.hardwareConcurrency` capped at 8 (2 when unknown).
   */
  readonly threads?: number;
  /**
   * How the calling thread waits for the workers: `"async"` (default; `Atomics.waitAsync`, required
   * on a browser main thread, which may not block) or `"block"` (`Atomics.wait`: Deno, or when the
   * backend itself lives in a worker; lower latency).
   */
  readonly wait?: "async" | "block";
  /**
   * Worker constructor (default: the global `Worker`), called with a Blob URL and
   * `{ type: "module" }`. Inject one where the global is absent or must be wrapped.
   */
  readonly createWorker?: (url: string, options: { type: "module" }) => WebWorkerLike;
}

const WEB_WORKER_SOURCE = `${WORKER_FUNCTION_SOURCE}
self.onmessage = (event) => {
  self.onmessage = null;
  const d = event.data;
  startWorker(d.module, d.memory, d.control, () => self.postMessage("ready"));
};
`;

/**
 * Create a WebAssembly SIMD backend whose large calls are split across Web Workers sharing one
 * `WebAssembly.Memory`. Needs `SharedArrayBuffer` (in browsers: a cross-origin isolated page).
 * Call `dispose()` to terminate the workers.
 *
 * @throws PruneError BACKEND_UNAVAILABLE without WebAssembly SIMD, shared memory or a Worker API.
 * @throws PruneError BACKEND_WORKER_FAILED when a worker cannot start.
 * @throws RangeError when `threads` is not an integer in [1, 256].
 * @example
 * const backend = await createWasmBackendWorkers({ threads: 4 });
 * const y = await backend.matmulTransB(x, w, m, k, n);
 * await backend.dispose();
 */
export async function createWasmBackendWorkers(
  options: WasmBackendWorkersOptions = {},
): Promise<WasmBackend> {
  const where = "compute-wasm createWasmBackendWorkers";
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  const threads = options.threads ?? Math.min(nav?.hardwareConcurrency ?? 2, 8);
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new RangeError(`${where}: threads must be an integer in [1, 256], got ${String(options.threads)}`);
  }
  requireSimd(where);
  if (!isWasmThreadsSupported()) {
    throw new PruneError(
      "BACKEND_UNAVAILABLE",
      `${where}: shared WebAssembly memory is not available. Expected SharedArrayBuffer (a ` +
        `cross-origin isolated page in browsers), got none; use createWasmBackend`,
    );
  }
  const WorkerCtor = (globalThis as { Worker?: new (url: string, o: { type: "module" }) => WebWorkerLike })
    .Worker;
  const createWorker =
    options.createWorker ??
    (WorkerCtor ? (url: string, o: { type: "module" }) => new WorkerCtor(url, o) : undefined);
  if (!createWorker) {
    throw new PruneError(
      "BACKEND_UNAVAILABLE",
      `${where}: no Worker API. Expected a global Worker or options.createWorker, got none`,
    );
  }
  const maxPages = resolveMaxPages(options.maxMemoryBytes);
  const memory = new WebAssembly.Memory({ initial: 16, maximum: maxPages, shared: true });
  const module = await compileKernels(true, maxPages);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const exports = instance.exports as unknown as KernelExports;
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const url = URL.createObjectURL(new Blob([WEB_WORKER_SOURCE], { type: "text/javascript" }));
  const workers: WebWorkerLike[] = [];
  const terminate = async (): Promise<void> => {
    for (const w of workers.splice(0)) w.terminate();
  };
  try {
    await Promise.all(
      Array.from({ length: threads - 1 }, () => {
        const worker = createWorker(url, { type: "module" });
        workers.push(worker);
        const ready = new Promise<void>((resolve, reject) => {
          worker.addEventListener("message", () => resolve());
          worker.addEventListener("error", (e) => reject(e));
        });
        worker.postMessage({ module, memory, control });
        return ready;
      }),
    );
  } catch (cause) {
    await terminate();
    throw new PruneError(
      "BACKEND_WORKER_FAILED",
      `${where}: a worker failed to start. Expected ${threads - 1} ready workers, got an error`,
      { cause },
    );
  } finally {
    URL.revokeObjectURL(url);
  }
  const runner = createSharedRunner({
    control,
    exports,
    workers: workers.length,
    wait: options.wait ?? "async",
    terminate,
  });
  return createBackendFromRuntime(
    { memory, maxPages, exports, runner, name: `wasm-simd x${threads}` },
    options,
  );
}
