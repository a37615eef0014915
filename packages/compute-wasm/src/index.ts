export {
  createWasmBackend,
  type WasmBackend,
  type WasmBackendBaseOptions,
  type WasmBackendOptions,
  type WasmBackendStats,
} from "./backend.ts";
export { buildKernelModule, K_BLOCK, type KernelExports, TILE_M, TILE_N } from "./kernels.ts";
export { type SelectComputeBackendOptions, selectComputeBackend } from "./select.ts";
export { isWasmSimdSupported, isWasmThreadsSupported } from "./simd.ts";
export {
  createWasmBackendWorkers,
  type WasmBackendWorkersOptions,
  type WebWorkerLike,
} from "./web-workers.ts";
