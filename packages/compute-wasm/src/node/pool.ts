/**
 * A `worker_threads` pool that runs kernel tasks on a shared `WebAssembly.Memory`.
 *
 * Protocol (all through an Int32Array on a SharedArrayBuffer, no messages per call):
 * the calling thread writes op, args and the task list, resets the task counter, bumps the
 * generation and wakes the workers (`Atomics.notify`). Every thread, the caller included, claims
 * tasks with `Atomics.add` on the counter until none are left (dynamic load balance: a core that is
 * busy with someone else's process simply claims fewer tasks), then each worker reports done. The
 * caller blocks in `Atomics.wait` until every worker has reported, so no worker is still running
 * when the next call rewrites the control block.
 */
import { Worker } from "node:worker_threads";
import { PruneError } from "@mama-prune/core";
import type { KernelExports } from "../kernels.ts";
import { MAX_TASKS, runTask, type TaskRunner } from "../tasks.ts";

// Control block layout (Int32 indices).
const GEN = 0;
const NEXT = 1;
const DONE = 2;
const QUIT = 3;
const ERR = 4;
const OP = 5;
const COUNT = 6;
const ARGS = 8; // 8 slots
const TASKS = 16; // 4 ints per task

/** How long the caller waits for a silent worker before declaring it failed. */
const WORKER_TIMEOUT_MS = 120_000;

// The worker program. Plain JavaScript evaluated by `new Worker(src, { eval: true })`, so the same
// string works from TypeScript sources (tests) and from the built package. Its task switch mirrors
// `runTask` in ../tasks.ts (the threaded-vs-single-threaded tests check they agree bit for bit).
const WORKER_SOURCE = `
"use strict";
const { workerData, parentPort } = require("node:worker_threads");
const { module, memory, control } = workerData;
const ctl = new Int32Array(control);
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
const GEN = ${GEN}, NEXT = ${NEXT}, DONE = ${DONE}, QUIT = ${QUIT}, ERR = ${ERR}, OP = ${OP},
  COUNT = ${COUNT}, ARGS = ${ARGS}, TASKS = ${TASKS};
function drain() {
  const op = ctl[OP], count = ctl[COUNT];
  const a0 = ctl[ARGS], a1 = ctl[ARGS + 1], a2 = ctl[ARGS + 2], a3 = ctl[ARGS + 3],
    a4 = ctl[ARGS + 4], a5 = ctl[ARGS + 5];
  for (;;) {
    const i = Atomics.add(ctl, NEXT, 1);
    if (i >= count) return;
    const t = TASKS + 4 * i;
    const ib0 = ctl[t], ib1 = ctl[t + 1], p0 = ctl[t + 2], p1 = ctl[t + 3];
    if (op === 1) ex.mm(a0, a1, a2, a3, a4, a5, ib0, ib1, p0, p1);
    else if (op === 2) {
      ex.mm(a0, a1, a2, 0, a4, a5, ib0, ib1, p0, p1);
      ex.acc64(a2, a3, a5, 4 * ib0, 4 * ib1, 8 * p0, 8 * p1);
    } else throw new Error("unknown op " + op);
  }
}
parentPort.postMessage("ready");
let seen = 0;
for (;;) {
  Atomics.wait(ctl, GEN, seen);
  seen = Atomics.load(ctl, GEN);
  if (Atomics.load(ctl, QUIT) !== 0) break;
  try {
    drain();
  } catch (e) {
    Atomics.store(ctl, ERR, 1);
  }
  Atomics.add(ctl, DONE, 1);
  Atomics.notify(ctl, DONE);
}
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
  const control = new SharedArrayBuffer(4 * (TASKS + 4 * MAX_TASKS));
  const ctl = new Int32Array(control);
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: threads - 1 }, () => {
        const worker = new Worker(WORKER_SOURCE, {
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
    await Promise.all(workers.map((w) => w.terminate()));
    throw new PruneError(
      "BACKEND_WORKER_FAILED",
      `compute-wasm: a worker thread failed to start. Expected ${threads - 1} ready workers, got an error`,
      { cause },
    );
  }
  for (const w of workers) {
    w.removeAllListeners("message");
    w.removeAllListeners("error");
    w.removeAllListeners("exit");
    // A crash after startup is reported by the next call (ERR flag or timeout); keep it from
    // becoming an unhandled 'error' event.
    w.on("error", () => Atomics.store(ctl, ERR, 1));
  }
  const nWorkers = workers.length;
  let disposed = false;
  return {
    threads,
    run(op, args, tasks, count, parallel): void {
      if (disposed) throw new RangeError("compute-wasm: the worker pool was disposed");
      if (!parallel || nWorkers === 0 || count <= 1) {
        for (let i = 0; i < count; i++) runTask(exports, op, args, tasks, i);
        return;
      }
      if (count > MAX_TASKS) throw new RangeError(`compute-wasm: ${count} tasks > ${MAX_TASKS}`);
      ctl[OP] = op;
      ctl[COUNT] = count;
      for (let j = 0; j < 8; j++) ctl[ARGS + j] = args[j] ?? 0;
      ctl.set(tasks.subarray(0, 4 * count), TASKS);
      Atomics.store(ctl, DONE, 0);
      Atomics.store(ctl, NEXT, 0);
      Atomics.add(ctl, GEN, 1);
      Atomics.notify(ctl, GEN);
      // The calling thread claims tasks too.
      let callerError: unknown;
      try {
        for (;;) {
          const i = Atomics.add(ctl, NEXT, 1);
          if (i >= count) break;
          runTask(exports, op, args, tasks, i);
        }
      } catch (e) {
        callerError = e;
        Atomics.store(ctl, NEXT, count); // stop the workers from claiming more
      }
      const start = Date.now();
      for (;;) {
        const d = Atomics.load(ctl, DONE);
        if (d >= nWorkers) break;
        Atomics.wait(ctl, DONE, d, 1000);
        if (Date.now() - start > WORKER_TIMEOUT_MS) {
          disposed = true;
          for (const w of workers) void w.terminate();
          throw new PruneError(
            "BACKEND_WORKER_FAILED",
            `compute-wasm: worker threads stopped responding. Expected ${nWorkers} to finish within ` +
              `${WORKER_TIMEOUT_MS} ms, got ${d}`,
          );
        }
      }
      if (callerError !== undefined) throw callerError;
      if (Atomics.exchange(ctl, ERR, 0) !== 0) {
        throw new PruneError(
          "BACKEND_WORKER_FAILED",
          "compute-wasm: a worker thread failed while running a kernel. Expected every task to " +
            "complete, got a worker error (the output is incomplete)",
        );
      }
    },
    async dispose(): Promise<void> {
      if (disposed && workers.length === 0) return;
      disposed = true;
      Atomics.store(ctl, QUIT, 1);
      Atomics.add(ctl, GEN, 1);
      Atomics.notify(ctl, GEN);
      const all = workers.splice(0);
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
