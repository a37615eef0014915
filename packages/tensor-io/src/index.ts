export { blobSource, bytesSource, toByteSource } from "./byte-source.ts";
export {
  LLAMA2C_HEADER_BYTES,
  type Llama2cHeader,
  type Llama2cWriteInput,
  type Llama2cWriteOptions,
  llama2cConfig,
  llama2cExpectedBytes,
  llama2cHeader,
  llama2cHeaderFromConfig,
  permuteRopeRows,
  readLlama2c,
  writeLlama2c,
} from "./llama2c.ts";
export type { ByteSource, Checkpoint, DType, TensorInfo, TensorReader } from "./types.ts";
