/**
 * The runtime-neutral half of the worker pools: the control-block protocol, the worker program (as
 * source text, so Node `worker_threads` and Web Workers run the very same code) and the caller side.
 *
 * Protocol (an Int32Array on a SharedArrayBuffer; no message per call): the caller writes op, args
 * and the task list, resets the task counter, bumps the generation and wakes the workers
 * (`Atomics.notify`). Every thread, the caller included, claims tasks with `Atomics.add` until none
 * are left (dynamic load balance: a core busy with another process simply claims fewer tasks), then
 * each worker reports done. The caller waits until every worker has reported, so no worker still
 * runs when the next call rewrites the control block.
 */
import { PruneError } from "@mama-prune/core";
import type { KernelExports } from "./kernels.ts";
import { MAX_TASKS, runTask, type TaskRunner } from "./tasks.ts";

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

/** Bytes of the control block (room for {@link MAX_TASKS} tasks). */
export const CONTROL_BYTES: number = 4 * (TASKS + 4 * MAX_TASKS);

/** How long the caller waits without any progress before declaring the pool failed. */
const WORKER_TIMEOUT_MS = 120_000;

/**
 * Source of `function startWorker(module, memory, control, ready)`: instantiates the kernels on the
 * shared memory, calls `ready()`, then serves calls until told to quit. Its task switch mirrors
 * `runTask` in tasks.ts (the threaded-vs-single-threaded tests check they agree bit for bit).
 */
export const WORKER_FUNCTION_SOURCE: string = `
function startWorker(module, memory, control, ready) {
  "use strict";
  const ctl = new Int32Array(control);
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const NEXT = ${NEXT}, DONE = ${DONE}, QUIT = ${QUIT}, ERR = ${ERR}, OP = ${OP}, COUNT = ${COUNT},
    ARGS = ${ARGS}, TASKS = ${TASKS}, GEN = ${GEN};
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
        if (8 * p0 >= 4 * ib1) ex.mirror64(a3, a5, 4 * ib0, 4 * ib1, 8 * p0, 8 * p1);
      } else if (op === 3) ex.attn(a0, ib0, ib1, p0);
      else if (op === 4) ex.swiglu(a0, a1, a2, ib0, ib1);
      else if (op === 5) ex.rowsumexp(a0, a1, a2, a3, ib0, ib1);
      else throw new Error("unknown op " + op);
    }
  }
  ready();
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
}
`;

/** Options of {@link createSharedRunner}. */
export interface SharedRunnerOptions {
  /** The control block shared with the workers. */
  readonly control: SharedArrayBuffer;
  /** Kernel exports instantiated on the calling thread. */
  readonly exports: KernelExports;
  /** Number of started workers. */
  readonly workers: number;
  /**
   * How the caller waits for the workers: `"block"` (`Atomics.wait`: Node, Deno, workers) or
   * `"async"` (`Atomics.waitAsync`, for browser main threads, which may not block).
   */
  readonly wait: "block" | "async";
  /** Terminate the workers. */
  readonly terminate: () => Promise<void>;
}

/**
 * The caller side of a pool: a {@link TaskRunner} over started workers.
 *
 * @throws PruneError BACKEND_WORKER_FAILED (from `run`) when a worker traps or stops responding.
 * @example
 * const runner = createSharedRunner({ control, exports, workers: 1, wait: "block", terminate });
 */
export function createSharedRunner(options: SharedRunnerOptions): TaskRunner {
  const { exports, workers: nWorkers, terminate } = options;
  const ctl = new Int32Array(options.control);
  const waitAsync = (
    Atomics as unknown as {
      waitAsync?: (
        a: Int32Array,
        i: number,
        v: number,
        t?: number,
      ) => { async: boolean; value: Promise<string> | string };
    }
  ).waitAsync;
  let disposed = false;

  const start = (
    op: number,
    args: readonly number[],
    tasks: Int32Array,
    count: number,
    alongside: (() => void) | undefined,
  ): unknown => {
    ctl[OP] = op;
    ctl[COUNT] = count;
    for (let j = 0; j < 8; j++) ctl[ARGS + j] = args[j] ?? 0;
    ctl.set(tasks.subarray(0, 4 * count), TASKS);
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, NEXT, 0);
    Atomics.add(ctl, GEN, 1);
    Atomics.notify(ctl, GEN);
    // The calling thread does its own work first (the workers compute meanwhile), then claims tasks too.
    try {
      alongside?.();
      for (;;) {
        const i = Atomics.add(ctl, NEXT, 1);
        if (i >= count) return undefined;
        runTask(exports, op, args, tasks, i);
      }
    } catch (e) {
      Atomics.store(ctl, NEXT, count); // stop the workers from claiming more
      return e ?? new Error("kernel failed"); // a throw of `alongside` too: the workers finish their tasks
    }
  };
  const fail = (done: number): never => {
    disposed = true;
    void terminate();
    throw new PruneError(
      "BACKEND_WORKER_FAILED",
      `compute-wasm: worker threads stopped responding. Expected ${nWorkers} to finish, got ` +
        `${done} and no progress for ${WORKER_TIMEOUT_MS} ms`,
    );
  };
  const finish = (callerError: unknown): void => {
    if (callerError !== undefined) throw callerError;
    if (Atomics.exchange(ctl, ERR, 0) !== 0) {
      throw new PruneError(
        "BACKEND_WORKER_FAILED",
        "compute-wasm: a worker thread failed while running a kernel. Expected every task to " +
          "complete, got a worker error (the output is incomplete)",
      );
    }
  };

  return {
    threads: nWorkers + 1,
    run(op, args, tasks, count, parallel, alongside): void | Promise<void> {
      if (disposed) throw new RangeError("compute-wasm: the worker pool was disposed");
      if (!parallel || nWorkers === 0 || count <= 1) {
        alongside?.();
        for (let i = 0; i < count; i++) runTask(exports, op, args, tasks, i);
        return;
      }
      if (count > MAX_TASKS) throw new RangeError(`compute-wasm: ${count} tasks > ${MAX_TASKS}`);
      const callerError = start(op, args, tasks, count, alongside);
      // A worker is declared failed only after WORKER_TIMEOUT_MS without any progress (no task
      // claimed, no worker finished), so long calls on a busy machine never trip it.
      let lastProgress = -1;
      let since = Date.now();
      const checkStall = (d: number): void => {
        const progress = Atomics.load(ctl, NEXT) * (nWorkers + 1) + d;
        const now = Date.now();
        if (progress !== lastProgress) {
          lastProgress = progress;
          since = now;
        } else if (now - since > WORKER_TIMEOUT_MS) fail(d);
      };
      if (options.wait === "block") {
        for (;;) {
          const d = Atomics.load(ctl, DONE);
          if (d >= nWorkers) break;
          Atomics.wait(ctl, DONE, d, 1000);
          checkStall(d);
        }
        finish(callerError);
        return;
      }
      return (async (): Promise<void> => {
        for (;;) {
          const d = Atomics.load(ctl, DONE);
          if (d >= nWorkers) break;
          if (waitAsync) {
            const r = waitAsync(ctl, DONE, d, 1000);
            if (r.async) await r.value;
          } else {
            await new Promise((resolve) => setTimeout(resolve, 0));
          }
          checkStall(d);
        }
        finish(callerError);
      })();
    },
    async dispose(): Promise<void> {
      if (disposed && ctl[QUIT] === 1) return;
      disposed = true;
      Atomics.store(ctl, QUIT, 1);
      Atomics.add(ctl, GEN, 1);
      Atomics.notify(ctl, GEN);
      await terminate();
    },
  };
}
