/**
 * Work items of the kernels and the contract of a task runner (one thread, or a worker pool).
 *
 * A call is split into independent tasks that each own a disjoint rectangle of the output, and
 * every output element is computed by the same kernel with the same summation order whichever
 * thread runs it, so multi-threaded results are bitwise identical to single-threaded ones.
 */
import type { KernelExports } from "./kernels.ts";

/** y tile rectangle of `mm`: args [xp, wp, yp, bp, kPad, nPad], task [ib0, ib1, p0, p1]. */
export const OP_MM = 1;
/**
 * Gram block: `mm` without bias into g32, `acc64` of the same rectangle into s64, and for blocks
 * strictly above the diagonal `mirror64` of it into the lower triangle.
 * args [ap, bp, gp, sp, innerPad, ld], task [ib0, ib1, p0, p1].
 */
export const OP_GRAM = 2;

/**
 * Fused causal attention (`attn`): args [pp] (the parameter block), task [window, head, scratch, 0].
 */
export const OP_ATTN = 3;
/** SwiGLU (`swiglu`): args [gp, up, op], task [i0, i1, 0, 0] (element range, multiples of 4). */
export const OP_SWIGLU = 4;
/** Row max and sum of exp (`rowsumexp`): args [yp, mp, sp, n], task [r0, r1, 0, 0] (row range). */
export const OP_ROWSUMEXP = 5;

/** Most tasks in one call (the worker control block has room for this many). */
export const MAX_TASKS = 4096;

/** Runs the tasks of one kernel call, on one or more threads, and returns when all are done. */
export interface TaskRunner {
  /** Threads that execute tasks, the calling thread included. */
  readonly threads: number;
  /**
   * Execute tasks [0, count) (4 ints each in `tasks`) of `op` with `args` (at most 8).
   * `parallel: false` keeps a small call on the calling thread. `alongside`, when given, is work of
   * the calling thread's own (e.g. folding the previous call's output): it runs once, after the
   * workers were woken and before the calling thread claims tasks, so the workers compute meanwhile;
   * it must not touch this call's operands or output. Returns a promise only when the runner waits
   * asynchronously (browser main thread); the caller must not start another call before it settles.
   */
  run(
    op: number,
    args: readonly number[],
    tasks: Int32Array,
    count: number,
    parallel: boolean,
    alongside?: () => void,
  ): void | Promise<void>;
  /** Stop the threads; safe to call twice. */
  dispose(): Promise<void>;
}

/**
 * Run task `i` (the same logic is in the worker source of shared-pool.ts; keep them in sync).
 *
 * @throws RangeError for an unknown op.
 * @example
 * runTask(exports, OP_MM, [xp, wp, yp, 0, kPad, nPad], tasks, 0);
 */
export function runTask(
  ex: KernelExports,
  op: number,
  a: readonly number[],
  tasks: Int32Array,
  i: number,
): void {
  const ib0 = tasks[4 * i] as number;
  const ib1 = tasks[4 * i + 1] as number;
  const p0 = tasks[4 * i + 2] as number;
  const p1 = tasks[4 * i + 3] as number;
  const [a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0] = a;
  if (op === OP_MM) {
    ex.mm(a0, a1, a2, a3, a4, a5, ib0, ib1, p0, p1);
  } else if (op === OP_GRAM) {
    ex.mm(a0, a1, a2, 0, a4, a5, ib0, ib1, p0, p1);
    ex.acc64(a2, a3, a5, 4 * ib0, 4 * ib1, 8 * p0, 8 * p1);
    // Blocks strictly above the diagonal also write their transpose (the accumulated values).
    if (8 * p0 >= 4 * ib1) ex.mirror64(a3, a5, 4 * ib0, 4 * ib1, 8 * p0, 8 * p1);
  } else if (op === OP_ATTN) {
    ex.attn(a0, ib0, ib1, p0);
  } else if (op === OP_SWIGLU) {
    ex.swiglu(a0, a1, a2, ib0, ib1);
  } else if (op === OP_ROWSUMEXP) {
    ex.rowsumexp(a0, a1, a2, a3, ib0, ib1);
  } else {
    throw new RangeError(`runTask: unknown op ${op}`);
  }
}

/**
 * The single-threaded runner: tasks run in order on the calling thread.
 *
 * @example
 * const runner = createInlineRunner(exports);
 */
export function createInlineRunner(ex: KernelExports): TaskRunner {
  return {
    threads: 1,
    run(op, args, tasks, count, _parallel, alongside): void {
      alongside?.();
      for (let i = 0; i < count; i++) runTask(ex, op, args, tasks, i);
    },
    async dispose(): Promise<void> {},
  };
}
