/**
 * The wasm backend's SwiGLU call: copies gate and up into the kernel memory in chunks, runs the
 * `swiglu` kernel over element ranges on the runner's threads and copies the result out. @internal
 */
import type { AttentionCallContext } from "./attention-call.ts";
import { OP_SWIGLU } from "./tasks.ts";

/** Elements per call chunk (3 float32 buffers of 4 MiB each). */
const CHUNK = 1 << 20;
/** Elements per task. */
const TASK = 1 << 14;

/**
 * out = silu(gate)·up elementwise, bitwise equal to `@mama-prune/model`'s `swiglu` on float32
 * arrays. `out` may be `gate` (in place).
 *
 * @throws TypeError / RangeError naming the operand that is not a float32 array of gate's length.
 */
export async function swigluCall(
  ctx: AttentionCallContext,
  gate: Float32Array,
  up: Float32Array,
  out: Float32Array,
): Promise<void> {
  const where = "compute-wasm swiglu";
  for (const [name, a] of [
    ["gate", gate],
    ["up", up],
    ["out", out],
  ] as const) {
    if (!(a instanceof Float32Array)) throw new TypeError(`${where}: ${name} must be a Float32Array`);
    if (a.length !== gate.length) {
      throw new RangeError(`${where}: ${name} has ${a.length} elements, expected gate's ${gate.length}`);
    }
  }
  const n = gate.length;
  if (n === 0) return;
  const heap = ctx.heap;
  const cap = Math.min(CHUNK, Math.ceil(n / 4) * 4);
  let gp = 0;
  let upp = 0;
  let op = 0;
  try {
    gp = heap.alloc(4 * cap);
    upp = heap.alloc(4 * cap);
    op = heap.alloc(4 * cap);
    for (let c0 = 0; c0 < n; c0 += cap) {
      const m = Math.min(cap, n - c0);
      const mPad = Math.ceil(m / 4) * 4;
      const f32 = new Float32Array(ctx.memory.buffer);
      f32.set(gate.subarray(c0, c0 + m), gp >>> 2);
      f32.set(up.subarray(c0, c0 + m), upp >>> 2);
      f32.fill(0, (gp >>> 2) + m, (gp >>> 2) + mPad);
      f32.fill(0, (upp >>> 2) + m, (upp >>> 2) + mPad);
      const count = Math.ceil(mPad / TASK);
      const tasks = new Int32Array(4 * count);
      for (let t = 0; t < count; t++) {
        tasks[4 * t] = t * TASK;
        tasks[4 * t + 1] = Math.min(mPad, (t + 1) * TASK);
      }
      await ctx.run(OP_SWIGLU, [gp, upp, op], tasks, count, count > 1);
      out.set(new Float32Array(ctx.memory.buffer, op, m), c0);
    }
  } finally {
    heap.free(gp);
    heap.free(upp);
    heap.free(op);
  }
}
