/**
 * The wasm backend's calls: checking operands, copying them in and out of the kernel memory and
 * running the kernels' tasks, one call at a time. Packing, the weight cache and the task plans live
 * in ./packing.ts, ./weight-cache.ts and ./task-plan.ts. @internal
 */
import {
  type AttentionLayout,
  checkDims,
  checkGramShapes,
  checkMatmulShapes,
  type MatmulOptions,
} from "@mama-prune/core";
import { type AttentionCallContext, causalAttentionCall } from "./attention-call.ts";
import type { WasmBackend, WasmBackendStats, WasmRuntime } from "./backend.ts";
import { GRAM_GEMM_MIN_K, gramBlockRows } from "./gram-gemm.ts";
import { WasmHeap } from "./heap.ts";
import { foldInto, packColumnBlocks, packRowBlocks } from "./packing.ts";
import { rowSumExpCall } from "./row-sum-exp-call.ts";
import { swigluCall } from "./swiglu-call.ts";
import { planGram, planMatmul, ROW_BLOCKS_PER_TASK } from "./task-plan.ts";
import { OP_GRAM, OP_MM } from "./tasks.ts";
import { type PackedEntry, PackedWeightCache } from "./weight-cache.ts";

const WHERE = "compute-wasm";
/** Rows of x summed in float32 before the partial Gram matrix is added in float64 (k < GRAM_GEMM_MIN_K). */
const GRAM_ROW_CHUNK = 256;
/** Below this many flops a call stays on the calling thread (waking workers costs ~0.1 ms). */
const PARALLEL_MIN_FLOPS = 1 << 21;

const ceilTo = (v: number, m: number): number => Math.ceil(v / m) * m;

function checkFloat32(where: string, label: string, a: unknown): void {
  if (!(a instanceof Float32Array)) {
    throw new TypeError(`${where}: ${label} must be a Float32Array, got ${describe(a)}`);
  }
}

function describe(a: unknown): string {
  if (a === null) return "null";
  if (typeof a === "object") return (a as object).constructor?.name ?? "object";
  return typeof a;
}

/** The backend behind every factory: calls serialized over one kernel memory and one runner. */
export class WasmBackendImpl implements WasmBackend {
  readonly name: string;
  readonly threads: number;
  private readonly rt: WasmRuntime;
  private readonly heap: WasmHeap;
  private readonly cache: PackedWeightCache;
  private queue: Promise<void> = Promise.resolve();
  private tasks: Int32Array = new Int32Array(4 * 64);
  private disposed = false;

  constructor(rt: WasmRuntime, budget: number) {
    this.rt = rt;
    this.name = rt.name;
    this.threads = rt.runner.threads;
    this.heap = new WasmHeap(rt.memory, rt.maxPages);
    this.cache = new PackedWeightCache(this.heap, rt.memory, budget);
  }

  // ---- ComputeBackend ----
  // Calls are serialized: they share the scratch memory and the workers. With the inline and the
  // Node runners a call runs to completion synchronously anyway; with an asynchronous runner
  // (browser main thread) the queue keeps a second call from starting while workers still run.

  matmulTransB(
    x: Float32Array,
    w: Float32Array,
    m: number,
    k: number,
    n: number,
    options?: MatmulOptions,
  ): Promise<Float32Array> {
    return this.serial(`${WHERE} matmulTransB`, () => this.matmulImpl(x, w, m, k, n, options));
  }

  gramAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    return this.serial(`${WHERE} gramAccumulate`, () => this.gramImpl(x, m, k, acc));
  }

  colSqNormAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    return this.serial(`${WHERE} colSqNormAccumulate`, () => this.colSqImpl(x, m, k, acc));
  }

  causalAttentionWindows(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    batch: number,
    seqLen: number,
    heads: AttentionLayout,
  ): Promise<boolean> {
    return this.serial(`${WHERE} causalAttentionWindows`, () =>
      causalAttentionCall(this.callContext(), q, k, v, out, batch, seqLen, heads),
    );
  }

  swiglu(gate: Float32Array, up: Float32Array, out: Float32Array): Promise<void> {
    return this.serial(`${WHERE} swiglu`, () => swigluCall(this.callContext(), gate, up, out));
  }

  rowMaxSumExp(
    y: Float32Array,
    rows: number,
    n: number,
    max: Float64Array,
    sum: Float64Array,
  ): Promise<void> {
    return this.serial(`${WHERE} rowMaxSumExp`, () =>
      rowSumExpCall(this.callContext(), y, rows, n, max, sum),
    );
  }

  private callContext(): AttentionCallContext {
    return {
      heap: this.heap,
      memory: this.rt.memory,
      run: (op, args, tasks, count, parallel) => this.runTasks(op, args, tasks, count, parallel),
    };
  }

  private serial<T>(where: string, f: () => Promise<T>): Promise<T> {
    if (this.disposed) {
      return Promise.reject(new RangeError(`${where}: the backend was disposed`));
    }
    const r = this.queue.then(f, f);
    this.queue = r.then(
      () => undefined,
      () => undefined,
    );
    return r;
  }

  private async matmulImpl(
    x: Float32Array,
    w: Float32Array,
    m: number,
    k: number,
    n: number,
    options?: MatmulOptions,
  ): Promise<Float32Array> {
    const where = `${WHERE} matmulTransB`;
    checkFloat32(where, "x", x);
    checkFloat32(where, "w", w);
    if (options?.bias !== undefined) checkFloat32(where, "bias", options.bias);
    if (options?.out !== undefined) checkFloat32(where, "out", options.out);
    checkMatmulShapes(where, x, w, m, k, n, options);
    const bias = options?.bias;
    const y = options?.out ?? new Float32Array(m * n); // (m, n)
    if (m === 0 || n === 0) return y;
    if (k === 0) {
      for (let i = 0; i < m; i++) {
        if (bias) y.set(bias, i * n);
        else y.fill(0, i * n, (i + 1) * n);
      }
      return y;
    }
    const kPad = ceilTo(k, 4);
    const nPad = ceilTo(n, 8);
    const mPad = ceilTo(m, 4);
    const heap = this.heap;
    let wp: PackedEntry | undefined;
    let xp = 0;
    let yp = 0;
    let bp = 0;
    try {
      wp = this.cache.acquire(w, n, k);
      xp = heap.alloc(mPad * kPad * 4);
      yp = heap.alloc(mPad * nPad * 4);
      if (bias) bp = heap.alloc(nPad * 4);
      const f32 = new Float32Array(this.rt.memory.buffer);
      packRowBlocks(f32, xp >>> 2, x, m, k, mPad, kPad);
      if (bias) {
        f32.set(bias, bp >>> 2);
        f32.fill(0, (bp >>> 2) + n, (bp >>> 2) + nPad);
      }
      const { tasks, count } = planMatmul(
        this.tasks,
        mPad / 4,
        nPad / 8,
        this.rt.runner.threads,
        this.rt.rowBlocksPerTask ?? ROW_BLOCKS_PER_TASK,
      );
      this.tasks = tasks;
      await this.runTasks(
        OP_MM,
        [xp, wp.ptr, yp, bp, kPad, nPad],
        this.tasks,
        count,
        2 * m * k * n >= PARALLEL_MIN_FLOPS,
      );
      const out = new Float32Array(this.rt.memory.buffer, yp, mPad * nPad); // (mPad, nPad)
      if (nPad === n) y.set(out.subarray(0, m * n));
      else for (let i = 0; i < m; i++) y.set(out.subarray(i * nPad, i * nPad + n), i * n);
    } finally {
      heap.free(xp);
      heap.free(yp);
      heap.free(bp);
      if (wp) this.cache.release(wp); // freed unless cached (budget 0 or too large)
    }
    return y;
  }

  private async gramImpl(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    const where = `${WHERE} gramAccumulate`;
    checkFloat32(where, "x", x);
    if (!(acc instanceof Float64Array)) {
      throw new TypeError(`${where}: acc must be a Float64Array, got ${describe(acc)}`);
    }
    checkGramShapes(where, x, m, k, acc);
    if (m === 0 || k === 0) return;
    if (k >= GRAM_GEMM_MIN_K) return this.gramGemmImpl(x, m, k, acc);
    const kp = ceilTo(k, 8);
    const chunk = Math.min(GRAM_ROW_CHUNK, ceilTo(m, 4));
    const heap = this.heap;
    let ap = 0;
    let bp = 0;
    let gp = 0;
    let sp = 0;
    try {
      ap = heap.alloc(kp * chunk * 4);
      bp = heap.alloc(kp * chunk * 4);
      gp = heap.alloc(kp * kp * 4);
      sp = heap.alloc(kp * kp * 8);
      new Float64Array(this.rt.memory.buffer, sp, kp * kp).fill(0);
      const { tasks, count } = planGram(this.tasks, kp);
      this.tasks = tasks;
      for (let i0 = 0; i0 < m; i0 += GRAM_ROW_CHUNK) {
        const mc = Math.min(GRAM_ROW_CHUNK, m - i0);
        const mcPad = ceilTo(mc, 4);
        const f32 = new Float32Array(this.rt.memory.buffer);
        packColumnBlocks(f32, ap >>> 2, x, i0, mc, mcPad, k, kp, 4);
        packColumnBlocks(f32, bp >>> 2, x, i0, mc, mcPad, k, kp, 8);
        await this.runTasks(
          OP_GRAM,
          [ap, bp, gp, sp, mcPad, kp],
          tasks,
          count,
          mc * k * k >= PARALLEL_MIN_FLOPS,
        );
      }
      foldInto(new Float64Array(this.rt.memory.buffer, sp, kp * kp), kp, acc, k);
    } finally {
      heap.free(ap);
      heap.free(bp);
      heap.free(gp);
      heap.free(sp);
    }
  }

  /** Wide Gram matrices: block rows of the upper triangle as `mm` calls (see ./gram-gemm.ts). */
  private gramGemmImpl(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    return gramBlockRows(
      {
        heap: this.heap,
        memory: this.rt.memory,
        threads: this.rt.runner.threads,
        rowBlocksPerTask: this.rt.rowBlocksPerTask ?? ROW_BLOCKS_PER_TASK,
        tasks: () => this.tasks,
        setTasks: (t) => {
          this.tasks = t;
        },
        run: (op, args, tasks, count, parallel, alongside) =>
          this.runTasks(op, args, tasks, count, parallel, alongside),
      },
      x,
      m,
      k,
      acc,
    );
  }

  private async colSqImpl(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
    const where = `${WHERE} colSqNormAccumulate`;
    checkFloat32(where, "x", x);
    if (!(acc instanceof Float64Array)) {
      throw new TypeError(`${where}: acc must be a Float64Array, got ${describe(acc)}`);
    }
    checkDims(where, { m, k });
    if (x.length !== m * k)
      throw new RangeError(`${where}: x has ${x.length} elements, expected m·k = ${m * k}`);
    if (acc.length !== k) throw new RangeError(`${where}: acc has ${acc.length} elements, expected k = ${k}`);
    if (m === 0 || k === 0) return;
    const kPad = ceilTo(k, 4);
    // Bound the scratch: rows are streamed through in chunks of ≤ 4 MiB.
    const rowsPerChunk = Math.max(1, Math.min(m, Math.floor((4 << 20) / (kPad * 4))));
    const heap = this.heap;
    let xp = 0;
    let ap = 0;
    try {
      xp = heap.alloc(rowsPerChunk * kPad * 4);
      ap = heap.alloc(kPad * 8);
      const buf = this.rt.memory.buffer;
      const a64 = new Float64Array(buf, ap, kPad); // (kPad,)
      a64.fill(0);
      const f32 = new Float32Array(buf);
      for (let i0 = 0; i0 < m; i0 += rowsPerChunk) {
        const rows = Math.min(rowsPerChunk, m - i0);
        const base = xp >>> 2;
        if (kPad === k) f32.set(x.subarray(i0 * k, (i0 + rows) * k), base);
        else {
          for (let i = 0; i < rows; i++) {
            f32.set(x.subarray((i0 + i) * k, (i0 + i + 1) * k), base + i * kPad);
            f32.fill(0, base + i * kPad + k, base + (i + 1) * kPad);
          }
        }
        this.rt.exports.colsq(xp, ap, kPad, rows);
      }
      for (let j = 0; j < k; j++) acc[j] = (acc[j] as number) + (a64[j] as number);
    } finally {
      heap.free(xp);
      heap.free(ap);
    }
  }

  // ---- Cache ----

  invalidate(w: Float32Array): void {
    this.cache.invalidate(w);
  }

  clearCache(): void {
    this.cache.clear();
  }

  stats(): WasmBackendStats {
    return {
      packedWeights: this.cache.packedWeights,
      packedBytes: this.cache.packedBytes,
      memoryBytes: this.heap.memoryBytes,
      packCount: this.cache.packCount,
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true; // new calls are refused from now on
    await this.queue; // let queued and in-flight calls finish first
    this.clearCache();
    await this.rt.runner.dispose();
  }

  // ---- Internals ----

  /** Run tasks; while an asynchronous runner waits, evicted panels are freed only afterwards. */
  private async runTasks(
    op: number,
    args: readonly number[],
    tasks: Int32Array,
    count: number,
    parallel: boolean,
    alongside?: () => void,
  ): Promise<void> {
    this.cache.beginRun();
    try {
      await this.rt.runner.run(op, args, tasks, count, parallel, alongside);
    } finally {
      this.cache.endRun();
    }
  }
}
