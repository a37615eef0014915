export {
  createOrtGemmBackend,
  type NativeBackend,
  type NativeBackendStats,
  type OrtGemmBackendOptions,
} from "./native-backend.ts";
export { type Dim, type GemmModelOptions, type GemmValue, gemmModel } from "./onnx-proto.ts";
export type { OrtModule, OrtSession, OrtSessionOptions, OrtTensor } from "./ort.ts";
export {
  DEFAULT_NATIVE_GEMM_THRESHOLD,
  type NativeGemmThreshold,
  usesNativeGemm,
} from "./threshold.ts";
