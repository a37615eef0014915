export { blobSource, bytesSource, toByteSource } from "./byte-source.ts";
export { configJsonBytes, MAX_JSON_FILE_BYTES, parseJsonObject } from "./config.ts";
export {
  bytesToF32,
  DTYPES,
  dtypeByteSize,
  f16BitsToF32,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32ToBytes,
  isDType,
} from "./dtype.ts";
export {
  type CheckpointDir,
  checkFileName,
  checkpointEntries,
  checkpointFromReader,
  HF_INDEX_FILE,
  HF_SINGLE_FILE,
  isBlockLinear,
  type MemoryCheckpointDir,
  memoryCheckpointDir,
  type ReadHfCheckpointOptions,
  readHfCheckpoint,
  type WritableCheckpointDir,
  type WriteHfCheckpointOptions,
  type WriteHfCheckpointResult,
  writeHfCheckpoint,
} from "./hf-folder.ts";
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
export {
  DEFAULT_MAX_HEADER_BYTES,
  type ReadSafetensorsOptions,
  readSafetensors,
  type SafetensorsEntry,
  type SafetensorsLayout,
  type SafetensorsReader,
  safetensorsBytes,
  safetensorsLayout,
  type TensorData,
  type WriteSafetensorsOptions,
  writeSafetensors,
} from "./safetensors.ts";
export { type ByteSink, type CollectSink, collectSink, writableStreamSink } from "./sink.ts";
export {
  bitmaskRowBytes,
  compressWeight,
  decodeSparse24,
  decodeSparseBitmask,
  decodeSparseRaw,
  decompressSparseReader,
  encodeSparse24,
  encodeSparseBitmask,
  encodeSparseRaw,
  i64Bytes,
  type RawSparse,
  type RawTensorEntry,
  type Sparse24Tensor,
  type SparseBitmaskTensor,
  type SparseFormat,
  type SparsityConfig,
  type SparsityConfigOptions,
  sparseFormatOf,
  sparsityConfig,
} from "./sparse.ts";
export { type Llama2cTokenizer, readLlama2cTokenizer } from "./tokenizer-bin.ts";
export type { ByteSource, Checkpoint, DType, TensorInfo, TensorReader } from "./types.ts";
