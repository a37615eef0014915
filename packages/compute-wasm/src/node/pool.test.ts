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
