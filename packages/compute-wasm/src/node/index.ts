export type { TaskRunner } from "../tasks.ts";
export {
  CPU_BACKEND_CHOICES,
  type CpuBackendChoice,
  createDefaultCpuBackend,
  type DefaultCpuBackendOptions,
  type DisposableComputeBackend,
} from "./default-backend.ts";
export { createWasmBackendNode, DEFAULT_MAX_THREADS, type WasmBackendNodeOptions } from "./node-backend.ts";
export { createWorkerPool, type WorkerPoolOptions } from "./pool.ts";
