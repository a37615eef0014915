export type { ByteSource, Checkpoint, DType, TensorInfo, TensorReader } from "./types.ts";
