import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { compileKernels } from "../backend.ts";
import type { KernelExports } from "../kernels.ts";
import { createWorkerPool } from "./pool.ts";

describe("createWorkerPool", () => {
  it("reports a worker that cannot instantiate the kernels as BACKEND_WORKER_FAILED", async () => {
    // A module compiled for a non-shared memory cannot import a shared one: the worker throws.
    const module = await compileKernels(false, 16);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
    let err: unknown;
    try {
      await createWorkerPool({ module, memory, exports: {} as KernelExports, threads: 2 });
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "BACKEND_WORKER_FAILED")).toBe(true);
    expect(String(err)).toMatch(/a worker thread failed to start/);
  });
});

describe("TaskRunner.run's alongside work", () => {
  const setup = async (threads: number) => {
    const module = await compileKernels(true, 64);
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 64, shared: true });
    const exports = (await WebAssembly.instantiate(module, { env: { memory } }))
      .exports as unknown as KernelExports;
    return { memory, exports, runner: await createWorkerPool({ module, memory, exports, threads }) };
  };
  // y (4 × 8n) = x (4 × k) · w (8n × k)ᵀ with x = 1, w = 1: every output is k; one task per panel.
  const tasksFor = (panels: number): Int32Array =>
    Int32Array.from({ length: 4 * panels }, (_, i) => [0, 1, i >> 2, (i >> 2) + 1][i & 3] as number);

  it("runs once, while the workers compute, and the call's output is complete", async () => {
    const { memory, runner } = await setup(2);
    const [k, panels] = [64, 64];
    const f32 = new Float32Array(memory.buffer);
    const [xp, wp, yp] = [1024, 1024 + 4 * k * 4, 1024 + 4 * k * 4 + 8 * panels * k * 4];
    f32.fill(1, xp / 4, xp / 4 + 4 * k);
    f32.fill(1, wp / 4, wp / 4 + 8 * panels * k);
    let calls = 0;
    let sawWorkerTask = false;
    await runner.run(1, [xp, wp, yp, 0, k, 8 * panels], tasksFor(panels), panels, true, () => {
      calls++;
      // Spin until some panel of y is written by the worker (the caller has claimed none yet).
      const t0 = Date.now();
      while (!sawWorkerTask && Date.now() - t0 < 5000) {
        sawWorkerTask = new Float32Array(memory.buffer, yp, 4 * 8 * panels).some((v) => v === k);
      }
    });
    expect(calls).toBe(1);
    expect(sawWorkerTask).toBe(true);
    expect(new Float32Array(memory.buffer, yp, 4 * 8 * panels).every((v) => v === k)).toBe(true);
    await runner.dispose();
  });

  it("runs first on the calling thread when the call is not split, and its error is the call's", async () => {
    const { runner } = await setup(2);
    const order: string[] = [];
    await runner.run(1, [0, 0, 0, 0, 0, 8], tasksFor(1), 0, false, () => order.push("alongside"));
    expect(order).toEqual(["alongside"]);
    expect(() =>
      runner.run(1, [0, 0, 0, 0, 0, 8], tasksFor(4), 4, true, () => {
        throw new Error("fold failed");
      }),
    ).toThrow(/fold failed/);
    await runner.dispose();
  });
});
