export type { TaskRunner } from "../tasks.ts";
export { createWasmBackendNode, DEFAULT_MAX_THREADS, type WasmBackendNodeOptions } from "./node-backend.ts";
export { createWorkerPool, type WorkerPoolOptions } from "./pool.ts";
