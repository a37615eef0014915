/**
 * The wasm backend's fused causal attention call: copies q (scaled by 1/√headDim, rounded to
 * float32 as the matmul path does), k and v of a group of windows into the kernel memory, runs one
 * `attn` task per (window, query head) on the runner's threads and copies the output back. The
 * arithmetic is in ./kernels/attention.ts. @internal
 */
import type { AttentionLayout } from "@mama-prune/core";
import type { WasmHeap } from "./heap.ts";
import { ATTN_PARAM_WORDS, attnScratchBytes } from "./kernels/attention.ts";
import { MAX_TASKS, OP_ATTN } from "./tasks.ts";

/** Bytes of operands and scratch one call puts in the kernel memory (windows are grouped to fit). */
const CALL_BYTES = 32 << 20;

/** What the call needs from the backend. */
export interface AttentionCallContext {
  readonly heap: WasmHeap;
  readonly memory: WebAssembly.Memory;
  run(
    op: number,
    args: readonly number[],
    tasks: Int32Array,
    count: number,
    parallel: boolean,
  ): Promise<void>;
}

/** Check the operands of `causalAttentionWindows`. @throws RangeError / TypeError naming the operand. */
function checkOperands(
  where: string,
  arrays: Readonly<Record<string, unknown>>,
  lengths: Readonly<Record<string, number>>,
): void {
  for (const [name, a] of Object.entries(arrays)) {
    if (!(a instanceof Float32Array)) throw new TypeError(`${where}: ${name} must be a Float32Array`);
    const want = lengths[name] as number;
    if (a.length !== want) {
      throw new RangeError(`${where}: ${name} has ${a.length} elements, expected ${want}`);
    }
  }
}

/**
 * Fused causal attention of `batch` windows (see ComputeBackend.causalAttentionWindows). Resolves
 * false (nothing written) when headDim is not a multiple of 4 (the kernel's P·V vectors).
 *
 * @throws RangeError for inconsistent shapes or head counts.
 */
export async function causalAttentionCall(
  ctx: AttentionCallContext,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  out: Float32Array,
  batch: number,
  seqLen: number,
  heads: AttentionLayout,
): Promise<boolean> {
  const where = "compute-wasm causalAttentionWindows";
  const { numHeads: H, numKvHeads: KV, headDim: hd } = heads;
  const win = heads.slidingWindow;
  for (const [label, x] of [
    ["batch", batch],
    ["seqLen", seqLen],
    ["numHeads", H],
    ["numKvHeads", KV],
    ["headDim", hd],
  ] as const) {
    if (!Number.isInteger(x) || x < 1)
      throw new RangeError(`${where}: ${label} must be a positive integer, got ${x}`);
  }
  if (H % KV !== 0) throw new RangeError(`${where}: numHeads ${H} is not a multiple of numKvHeads ${KV}`);
  if (win !== undefined && (!Number.isInteger(win) || win < 1)) {
    throw new RangeError(`${where}: slidingWindow must be a positive integer, got ${win}`);
  }
  const qDim = H * hd;
  const kvDim = KV * hd;
  checkOperands(
    where,
    { q, k, v, out },
    {
      q: batch * seqLen * qDim,
      k: batch * seqLen * kvDim,
      v: batch * seqLen * kvDim,
      out: batch * seqLen * qDim,
    },
  );
  if (hd % 4 !== 0) return false;
  const scale = 1 / Math.sqrt(hd);
  const scratch = attnScratchBytes(seqLen, hd);
  const perWindow = 4 * seqLen * (2 * qDim + 2 * kvDim) + H * scratch;
  const group = Math.max(1, Math.min(batch, Math.floor(MAX_TASKS / H), Math.floor(CALL_BYTES / perWindow)));
  const heap = ctx.heap;
  for (let b0 = 0; b0 < batch; b0 += group) {
    const nb = Math.min(group, batch - b0);
    const rows = nb * seqLen;
    let pp = 0;
    let qp = 0;
    let kp = 0;
    let vp = 0;
    let op = 0;
    let sp = 0;
    try {
      pp = heap.alloc(4 * ATTN_PARAM_WORDS);
      qp = heap.alloc(4 * rows * qDim);
      kp = heap.alloc(4 * rows * kvDim);
      vp = heap.alloc(4 * rows * kvDim);
      op = heap.alloc(4 * rows * qDim);
      sp = heap.alloc(nb * H * scratch);
      const buf = ctx.memory.buffer;
      const f32 = new Float32Array(buf);
      const q0 = b0 * seqLen * qDim;
      const qh = f32.subarray(qp >>> 2, (qp >>> 2) + rows * qDim);
      for (let i = 0; i < qh.length; i++) qh[i] = q[q0 + i]! * scale;
      f32.set(k.subarray(b0 * seqLen * kvDim, (b0 + nb) * seqLen * kvDim), kp >>> 2);
      f32.set(v.subarray(b0 * seqLen * kvDim, (b0 + nb) * seqLen * kvDim), vp >>> 2);
      new Int32Array(buf, pp, ATTN_PARAM_WORDS).set([
        qp,
        kp,
        vp,
        op,
        seqLen,
        qDim,
        kvDim,
        hd,
        H / KV,
        win ?? 0,
      ]);
      const count = nb * H;
      const tasks = new Int32Array(4 * count);
      for (let b = 0; b < nb; b++) {
        for (let h = 0; h < H; h++) {
          const t = b * H + h;
          tasks[4 * t] = b;
          tasks[4 * t + 1] = h;
          tasks[4 * t + 2] = sp + t * scratch;
        }
      }
      await ctx.run(OP_ATTN, [pp], tasks, count, count > 1);
      out.set(new Float32Array(ctx.memory.buffer, op, rows * qDim), q0);
    } finally {
      heap.free(pp);
      heap.free(qp);
      heap.free(kp);
      heap.free(vp);
      heap.free(op);
      heap.free(sp);
    }
  }
  return true;
}
