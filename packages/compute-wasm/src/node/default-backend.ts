/**
 * The default CPU backend of the MAMA Prune tools: the threaded WebAssembly SIMD backend when this
 * runtime supports it, otherwise the caller's plain JavaScript reference backend.
 */
import { type ComputeBackend, isPruneError, type Logger, SILENT_LOGGER } from "@mama-prune/core";
import type { WasmBackendBaseOptions } from "../backend.ts";
import { isWasmThreadsSupported } from "../simd.ts";
import { createWasmBackendNode } from "./node-backend.ts";

/** Which backend {@link createDefaultCpuBackend} should create. */
export type CpuBackendChoice = "auto" | "wasm" | "js";

/** The backend kinds accepted by {@link createDefaultCpuBackend}, for flag validation. */
export const CPU_BACKEND_CHOICES: readonly CpuBackendChoice[] = ["auto", "wasm", "js"];

/** A compute backend that must be disposed when the process is done with it. */
export type DisposableComputeBackend = ComputeBackend & { dispose(): Promise<void> };

/** Options of {@link createDefaultCpuBackend}. */
export interface DefaultCpuBackendOptions extends WasmBackendBaseOptions {
  /**
   * The plain JavaScript reference backend (e.g. `createCpuBackend` of `@mama-prune/model`). It is
   * injected rather than imported so that this package keeps depending on `@mama-prune/core` only.
   */
  readonly fallback: () => ComputeBackend;
  /**
   * `"auto"` (default): wasm when WebAssembly SIMD (and, for several threads, shared memory) is
   * available, else `fallback`. `"wasm"`: wasm or an error. `"js"`: always `fallback`.
   */
  readonly prefer?: CpuBackendChoice;
  /** Threads of the wasm backend, the calling thread included (default: all cores, at most 8). */
  readonly threads?: number;
  /** Receives one `info` line naming the chosen backend (and why wasm was not used, if so). */
  readonly logger?: Logger;
  /** The wasm factory (default {@link createWasmBackendNode}); injectable for tests. */
  readonly createWasm?: (options: { threads?: number } & WasmBackendBaseOptions) => Promise<ComputeBackend>;
}

function disposable(b: ComputeBackend): DisposableComputeBackend {
  if (typeof b.dispose === "function") return b as DisposableComputeBackend;
  // The JS reference holds no resources; give it a no-op dispose so callers can always dispose.
  return Object.assign(Object.create(b) as ComputeBackend, { dispose: async () => {} });
}

/**
 * Create the default CPU backend: the threaded WebAssembly SIMD backend when available, with the
 * caller's plain JavaScript backend as the fallback (`prefer: "auto"`), or the one asked for.
 * Always call `dispose()` at the end: it stops the worker threads (a no-op for the JS backend).
 *
 * @throws PruneError BACKEND_UNAVAILABLE when `prefer: "wasm"` and WebAssembly SIMD is missing.
 * @throws PruneError BACKEND_WORKER_FAILED when a worker thread cannot start (never hidden by the fallback).
 * @throws RangeError for a bad `threads` or `prefer`; TypeError when `fallback` is not a function.
 * @example
 * import { createCpuBackend, loadLlama } from "@mama-prune/model";
 * const backend = await createDefaultCpuBackend({ fallback: createCpuBackend });
 * backend.name; // "wasm-simd x2" on a 2-core machine with SIMD, else "js"
 * const model = await loadLlama(checkpoint, { backend });
 * await backend.dispose();
 */
export async function createDefaultCpuBackend(
  options: DefaultCpuBackendOptions,
): Promise<DisposableComputeBackend> {
  const where = "compute-wasm createDefaultCpuBackend";
  if (typeof options?.fallback !== "function") {
    throw new TypeError(`${where}: fallback must be a function returning the JS backend`);
  }
  const prefer = options.prefer ?? "auto";
  if (!CPU_BACKEND_CHOICES.includes(prefer)) {
    throw new RangeError(
      `${where}: prefer must be one of ${CPU_BACKEND_CHOICES.join(", ")}, got ${JSON.stringify(String(prefer))}`,
    );
  }
  const log = options.logger ?? SILENT_LOGGER;
  if (prefer === "js") {
    const b = options.fallback();
    log.info(`compute backend: ${b.name}`, { prefer });
    return disposable(b);
  }
  const { fallback: _f, prefer: _p, logger: _l, createWasm, ...wasmOptions } = options;
  const create = createWasm ?? createWasmBackendNode;
  // Without shared memory, auto mode still takes the single-threaded wasm backend over plain JS.
  const single = prefer === "auto" && options.threads === undefined && !isWasmThreadsSupported();
  try {
    const b = await create(single ? { ...wasmOptions, threads: 1 } : wasmOptions);
    log.info(`compute backend: ${b.name}`, { prefer });
    return disposable(b);
  } catch (e) {
    if (prefer === "wasm" || !isPruneError(e, "BACKEND_UNAVAILABLE")) throw e;
    const b = options.fallback();
    log.info(`compute backend: ${b.name} (WebAssembly SIMD unavailable)`, { reason: e.message });
    return disposable(b);
  }
}
