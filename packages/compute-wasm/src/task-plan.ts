/**
 * Work planning: how a matmul or a Gram block is cut into tasks (entries of 4 int32: a range of
 * row blocks and a range of panels / column blocks) that the threads claim dynamically. @internal
 */
import { MAX_TASKS } from "./tasks.ts";

/** Rows (in tile blocks of 4) of x per matmul task: 32 → 128 rows, whose K block fits in L2. */
export const ROW_BLOCKS_PER_TASK = 32;

/** A task list: `tasks` holds `count` entries of 4 int32 (it may be a grown copy of the input). */
export interface TaskPlan {
  readonly tasks: Int32Array;
  readonly count: number;
}

function ensureTasks(tasks: Int32Array, count: number): Int32Array {
  return tasks.length < 4 * count ? new Int32Array(4 * count) : tasks;
}

/**
 * Tasks of a matmul: row ranges of ≤ 128 rows × panel groups sized for load balance.
 *
 * @example
 * const { tasks, count } = planMatmul(new Int32Array(256), 8, 16, 2, ROW_BLOCKS_PER_TASK);
 */
export function planMatmul(
  buffer: Int32Array,
  rowBlocks: number,
  panels: number,
  threads: number,
  rowBlocksPerTask: number,
): TaskPlan {
  let rb = Math.min(rowBlocks, rowBlocksPerTask);
  let rowTasks = Math.ceil(rowBlocks / rb);
  while (rowTasks > MAX_TASKS) {
    rb *= 2;
    rowTasks = Math.ceil(rowBlocks / rb);
  }
  // Enough tasks (≥ 8 per thread) for dynamic load balance on a busy machine: a thread that
  // loses its core to another process for a while just claims fewer tasks.
  const wantSplits = threads === 1 ? 1 : Math.ceil((8 * threads) / rowTasks);
  const panelSplits = Math.max(1, Math.min(panels, wantSplits, Math.floor(MAX_TASKS / rowTasks)));
  const pg = Math.ceil(panels / panelSplits);
  const t = ensureTasks(buffer, rowTasks * Math.ceil(panels / pg));
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
  return { tasks: t, count: c };
}

/**
 * Tasks of a Gram block: the upper triangle of (kp/b)² super-tiles of b×b outputs.
 *
 * @example
 * const { tasks, count } = planGram(new Int32Array(256), 512);
 */
export function planGram(buffer: Int32Array, kp: number): TaskPlan {
  let b = 64;
  let nb = Math.ceil(kp / b);
  while ((nb * (nb + 1)) / 2 > MAX_TASKS) {
    b *= 2;
    nb = Math.ceil(kp / b);
  }
  const t = ensureTasks(buffer, (nb * (nb + 1)) / 2);
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
  return { tasks: t, count: c };
}
