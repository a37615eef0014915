/**
 * The wasm backend's row max / sum-of-exp call: copies row blocks of y into the kernel memory, runs the
 * `rowsumexp` kernel over row ranges on the runner's threads and copies the two float64 results out.
 * @internal
 */
import type { AttentionCallContext } from "./attention-call.ts";
import { OP_ROWSUMEXP } from "./tasks.ts";

/** Floats of y per call chunk (4 MiB). */
const CHUNK_FLOATS = 1 << 20;
/** Floats of y per task (a whole number of rows, at least one). */
const TASK_FLOATS = 1 << 13;

/**
 * For each row r < rows of y (row-major float32, n columns): max[r] = its largest entry (NaN entries
 * never win; −∞ for a row without a number) and sum[r] = Σ_j exp(y[r, j] − max[r]) in float64 in
 * column order with Math.exp's exp: bitwise the values of the JavaScript loops
 * `if (y > m) m = y` and `s += Math.exp(y - m)`.
 *
 * @throws TypeError / RangeError naming the operand of the wrong type or size.
 */
export async function rowSumExpCall(
  ctx: AttentionCallContext,
  y: Float32Array,
  rows: number,
  n: number,
  max: Float64Array,
  sum: Float64Array,
): Promise<void> {
  const where = "compute-wasm rowMaxSumExp";
  for (const [name, v] of [
    ["rows", rows],
    ["n", n],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`${where}: ${name} must be an integer ≥ 0, got ${v}`);
  }
  if (!(y instanceof Float32Array)) throw new TypeError(`${where}: y must be a Float32Array`);
  if (y.length < rows * n)
    throw new RangeError(`${where}: y has ${y.length} values, expected rows·n = ${rows * n}`);
  for (const [name, a] of [
    ["max", max],
    ["sum", sum],
  ] as const) {
    if (!(a instanceof Float64Array)) throw new TypeError(`${where}: ${name} must be a Float64Array`);
    if (a.length < rows)
      throw new RangeError(`${where}: ${name} has ${a.length} values, expected rows = ${rows}`);
  }
  if (rows === 0) return;
  if (n === 0) {
    max.fill(Number.NEGATIVE_INFINITY, 0, rows);
    sum.fill(0, 0, rows);
    return;
  }
  const heap = ctx.heap;
  const chunkRows = Math.min(rows, Math.max(1, Math.floor(CHUNK_FLOATS / n)));
  const taskRows = Math.max(1, Math.floor(TASK_FLOATS / n));
  let yp = 0;
  let mp = 0;
  let sp = 0;
  try {
    yp = heap.alloc(4 * chunkRows * n);
    mp = heap.alloc(8 * chunkRows);
    sp = heap.alloc(8 * chunkRows);
    for (let r0 = 0; r0 < rows; r0 += chunkRows) {
      const m = Math.min(chunkRows, rows - r0);
      new Float32Array(ctx.memory.buffer, yp, m * n).set(y.subarray(r0 * n, (r0 + m) * n));
      const count = Math.ceil(m / taskRows);
      const tasks = new Int32Array(4 * count);
      for (let t = 0; t < count; t++) {
        tasks[4 * t] = t * taskRows;
        tasks[4 * t + 1] = Math.min(m, (t + 1) * taskRows);
      }
      await ctx.run(OP_ROWSUMEXP, [yp, mp, sp, n], tasks, count, count > 1);
      max.set(new Float64Array(ctx.memory.buffer, mp, m), r0);
      sum.set(new Float64Array(ctx.memory.buffer, sp, m), r0);
    }
  } finally {
    heap.free(yp);
    heap.free(mp);
    heap.free(sp);
  }
}
