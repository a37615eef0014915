export {
  type AutoSparseOptions,
  createWebGpuBackend,
  type DenseKernelChoice,
  type GpuLimits,
  type WebGpuBackend,
  type WebGpuBackendOptions,
  type WebGpuBackendStats,
} from "./backend.ts";
export {
  GPU_UNAVAILABLE_HINT,
  type GpuAdapterSummary,
  type GpuDeviceHandle,
  type RequestGpuDeviceOptions,
  requestGpuDevice,
  summarizeAdapter,
} from "./device.ts";
export { f16BitsToF32, f32ToF16Bits } from "./f16.ts";
export { createSettler, type Settler, type WaitMode } from "./gpu/settle.ts";
export { decodeWorkgroupWgsl } from "./gpu/shaders/decode-workgroup.wgsl.ts";
export {
  DENSE_MATMUL_WGSL,
  DENSE_TK,
  type DenseMatmulShaderOptions,
  denseMatmulWgsl,
  denseMatmulWorkgroupBytes,
} from "./gpu/shaders/dense-matmul.wgsl.ts";
export { DENSE_MATVEC_WGSL } from "./gpu/shaders/dense-matvec.wgsl.ts";
export {
  SPARSE_24_WGSL,
  SPARSE_BITMASK_WGSL,
  SPARSE_CSR_WGSL,
  type SparseKernelFormat,
  type SparseMatmulShaderOptions,
  sparseMatmulWgsl,
} from "./gpu/shaders/sparse-matmul.wgsl.ts";
export { COL_SQ_NORM_WGSL, GRAM_TK, gramWgsl } from "./gpu/shaders/stats.wgsl.ts";
export { colSqNormRef, denseMatmulRef, gramRef, sparseMatmulRef } from "./reference.ts";
export {
  type BitmaskWeight,
  type CsrWeight,
  type Sparse24Weight,
  type SparseWeight,
  type SparseWeightFormat,
  sliceSparseRows,
  sparseFromDense,
  sparseMaxBufferBytes,
  sparseNnz,
  sparseToDense,
  validateSparseWeight,
} from "./sparse-weight.ts";
