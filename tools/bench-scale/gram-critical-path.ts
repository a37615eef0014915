// The wide Gram's critical path on an idle 2-core machine, estimated from single-thread CPU times
// (issue 12; robust to a loaded machine, where wall-clock A/B runs do not resolve it):
//   node --conditions @mama-prune/source --import tsx tools/bench-scale/gram-critical-path.ts [k] [rows]
// Per block row the kernel tasks (mm) and the calling thread's own work (fold + packing, `alongside`)
// are timed apart. Overlapped (this code): Σ max((mm + own)/2, own). Serial (the previous code's
// schedule): Σ mm/2 + the same folds + two packing passes per chunk, all on the calling thread.
import { createWasmBackend } from "@mama-prune/compute-wasm";
import { createRng } from "@mama-prune/core";
import {
  foldGramBlockRow,
  GRAM_GEMM_BLOCK,
  GRAM_GEMM_DEPTH,
  gramBlockRows,
} from "../../packages/compute-wasm/src/gram-gemm.ts";
import { packColumnBlocks } from "../../packages/compute-wasm/src/packing.ts";
import { runTask } from "../../packages/compute-wasm/src/tasks.ts";

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const [k = 8192, m = 4096] = process.argv.slice(2).map(Number);
// The single-threaded backend's internals (kernel memory, heap, exports): one thread, so CPU time is its time.
const be = (await createWasmBackend()) as unknown as {
  rt: { memory: WebAssembly.Memory; exports: Parameters<typeof runTask>[0] };
  heap: Parameters<typeof gramBlockRows>[0]["heap"];
};
const rng = createRng(7);
const x = Float32Array.from({ length: m * k }, () => rng.normal());
const acc = new Float64Array(k * k).fill(0); // pages touched before timing
const rows: { mm: number; own: number }[] = [];
let tasksBuf: Int32Array = new Int32Array(4096);
const t0 = cpu();
await gramBlockRows(
  {
    heap: be.heap,
    memory: be.rt.memory,
    threads: 2, // the task plan of two threads
    rowBlocksPerTask: 32,
    tasks: () => tasksBuf,
    setTasks: (t) => {
      tasksBuf = t;
    },
    async run(op, args, tasks, count, _parallel, alongside) {
      let t = cpu();
      alongside?.();
      const own = cpu() - t;
      t = cpu();
      for (let i = 0; i < count; i++) runTask(be.rt.exports, op, args, tasks, i);
      rows.push({ mm: cpu() - t, own });
    },
  },
  x,
  m,
  k,
  acc,
);
const total = cpu() - t0;
const mm = rows.reduce((a, r) => a + r.mm, 0);
const own = rows.reduce((a, r) => a + r.own, 0);
const overlapped = rows.reduce((a, r) => a + Math.max((r.mm + r.own) / 2, r.own), 0) + (total - mm - own);
// The previous schedule: the same folds and two packing passes per chunk, with the worker idle.
const y = Float32Array.from({ length: GRAM_GEMM_BLOCK * k }, () => rng.normal());
const acc2 = new Float64Array(k * k).fill(0);
const f32 = new Float32Array(2 * k * GRAM_GEMM_DEPTH);
const t = cpu();
for (let i0 = 0; i0 < m; i0 += GRAM_GEMM_DEPTH) {
  const mc = Math.min(GRAM_GEMM_DEPTH, m - i0);
  packColumnBlocks(f32, 0, x, i0, mc, mc, k, k, 4);
  packColumnBlocks(f32, k * mc, x, i0, mc, mc, k, k, 8);
  for (let ib = 0; ib < k; ib += GRAM_GEMM_BLOCK)
    foldGramBlockRow(y, k - ib, Math.min(GRAM_GEMM_BLOCK, k - ib), ib, k, acc2);
}
const serial = mm / 2 + (cpu() - t);
const gf = (ms: number): string => ((m * k * (k + 1)) / ms / 1e6).toFixed(1);
console.log(
  `k=${k} m=${m}: kernel tasks ${mm.toFixed(0)} ms CPU, the calling thread's own work ${own.toFixed(0)} ms (+ ${(total - mm - own).toFixed(0)} ms outside calls)`,
);
console.log(
  `idle 2 cores: serial schedule ${serial.toFixed(0)} ms (${gf(serial)} GFLOP/s), overlapped ${overlapped.toFixed(0)} ms (${gf(overlapped)}), kernel only ${(mm / 2).toFixed(0)} ms (${gf(mm / 2)})`,
);
