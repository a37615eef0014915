/**
 * A `worker_threads` pool that runs kernel tasks on a shared `WebAssembly.Memory` (protocol in
 * ../shared-pool.ts). The caller blocks in `Atomics.wait` while the workers finish, which is the
 * fastest hand-off in Node (tens of microseconds).
 */
import { Worker } from "node:worker_threads";
import { PruneError } from "@mama-prune/core";
import type { KernelExports } from "../kernels.ts";
import { CONTROL_BYTES, createSharedRunner, WORKER_FUNCTION_SOURCE } from "../shared-pool.ts";
import type { TaskRunner } from "../tasks.ts";

// Plain JavaScript evaluated by `new Worker(src, { eval: true })`, so the same string works from
// TypeScript sources (tests) and from the built package.
const NODE_WORKER_SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
${WORKER_FUNCTION_SOURCE}
startWorker(workerData.module, workerData.memory, workerData.control, () => parentPort.postMessage("ready"));
`;

/** Options of {@link createWorkerPool}. */
export interface WorkerPoolOptions {
  /** Compiled kernel module (shared-memory flavour). */
  readonly module: WebAssembly.Module;
  /** The shared memory. */
  readonly memory: WebAssembly.Memory;
  /** Kernel exports instantiated on the calling thread. */
  readonly exports: KernelExports;
  /** Total threads, the calling thread included (so `threads - 1` workers). */
  readonly threads: number;
}

/**
 * Start `threads - 1` workers and resolve once each has instantiated the kernels.
 *
 * @throws PruneError BACKEND_WORKER_FAILED when a worker fails to start.
 * @example
 * const runner = await createWorkerPool({ module, memory, exports, threads: 2 });
 */
export async function createWorkerPool(options: WorkerPoolOptions): Promise<TaskRunner> {
  const { module, memory, exports, threads } = options;
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const workers: Worker[] = [];
  const terminate = async (): Promise<void> => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
  };
  try {
    await Promise.all(
      Array.from({ length: threads - 1 }, () => {
        const worker = new Worker(NODE_WORKER_SOURCE, {
          eval: true,
          workerData: { module, memory, control },
        });
        workers.push(worker);
        // Idle workers must not keep the process alive if the caller forgets dispose().
        worker.unref();
        return new Promise<void>((resolve, reject) => {
          worker.once("message", () => resolve());
          worker.once("error", reject);
          worker.once("exit", (code) => reject(new Error(`worker exited with code ${code}`)));
        });
      }),
    );
  } catch (cause) {
    await terminate();
    throw new PruneError(
      "BACKEND_WORKER_FAILED",
      `compute-wasm: a worker thread failed to start. Expected ${threads - 1} ready workers, got an error`,
      { cause },
    );
  }
  const ctl = new Int32Array(control);
  for (const w of workers) {
    w.removeAllListeners();
    // A crash after startup is reported by the next call (error flag or timeout); keep it from
    // becoming an unhandled 'error' event.
    w.on("error", () => Atomics.store(ctl, 4, 1));
  }
  return createSharedRunner({
    control,
    exports,
    workers: workers.length,
    wait: "block",
    terminate,
  });
}
