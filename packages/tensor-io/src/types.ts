// The contract between tensor-io and its consumers (model, eval, pipeline). Every checkpoint format
// (single safetensors file, sharded Hugging Face folder, llama2.c .bin) is exposed through it.

/** Element types of the safetensors format that model checkpoints use. */
export type DType =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL";

/** Name, dtype and shape of one stored tensor. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Size of the stored data in bytes (numel × dtype size). */
  readonly byteLength: number;
}

/**
 * Random-access bytes: a web Blob, an in-memory Uint8Array, or (via `@mama-prune/tensor-io/node`)
 * a file handle. Readers pull only the ranges they need, so a tensor is read without the whole file.
 */
export interface ByteSource {
  /** Name for error messages (file path, URL or "<memory>"). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Read exactly `length` bytes at `offset` (rejects with TENSOR_IO_MALFORMED past the end). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Release the underlying handle, if any. Safe to call twice. */
  close?(): Promise<void>;
}

/** Read access to the tensors of a checkpoint, one tensor at a time. */
export interface TensorReader {
  /** Where the tensors come from (file or folder), for messages. */
  readonly source: string;
  /** All tensors, in storage order. */
  list(): readonly TensorInfo[];
  /** True when a tensor of that name exists. */
  has(name: string): boolean;
  /** Info of one tensor; throws TENSOR_IO_NOT_FOUND naming the tensor and the source. */
  info(name: string): TensorInfo;
  /** The stored bytes of one tensor (little-endian, as in the file). */
  readRaw(name: string): Promise<Uint8Array>;
  /**
   * `length` stored bytes of one tensor starting `offset` bytes into its data (e.g. a few rows of an
   * embedding), read without the rest of the tensor. Optional: readers that cannot read a part of a
   * tensor (a decompressed sparse weight, a wrapper that does not forward it) leave it out, and
   * callers fall back to `readRaw`.
   *
   * @throws RangeError when `offset`/`length` are not integers or leave the tensor's bytes.
   */
  readRawRange?(name: string, offset: number, length: number): Promise<Uint8Array>;
  /** One tensor converted to float32 (F64/F16/BF16/integers/BOOL converted; F32 copied). */
  readF32(name: string): Promise<Float32Array>;
  /** Release file handles. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * A model checkpoint: tensors under Hugging Face names plus the Hugging Face `config.json` object
 * (for llama2.c files, a config synthesised from the header).
 */
export interface Checkpoint extends TensorReader {
  readonly config: Readonly<Record<string, unknown>>;
  /** `"safetensors"`, `"hf-folder"` or `"llama2c"`. */
  readonly format: "safetensors" | "hf-folder" | "llama2c";
}
