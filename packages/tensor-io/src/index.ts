export { blobSource, bytesSource, toByteSource } from "./byte-source.ts";
export type { ByteSource, Checkpoint, DType, TensorInfo, TensorReader } from "./types.ts";
