// Sparse storage in the compressed-tensors layouts (neuralmagic/compressed-tensors, read by vLLM and
// Hugging Face transformers), so pruned checkpoints are really smaller on disk.
//
// For a 2-D weight `<p>.weight` of shape (R, C) the dense tensor is replaced by:
//   sparse-bitmask:     <p>.shape       I64 [2]       (R, C)
//                       <p>.compressed  dtype [nnz]   the non-zero values, row-major
//                       <p>.bitmask     U8 [R, ceil(C/8)]  bit j of byte k in row r ⇔ element (r, 8k+j) kept
//                                                     (numpy packbits(bitorder="little") per row; padding bits 0)
//                       <p>.row_offsets I64 [R]       exclusive prefix sum of kept values per row
//   sparse-24-bitmask:  <p>.shape       I64 [2, 1]    (R, C) (compressed-tensors reshapes it to a column)
//                       <p>.compressed  dtype [R, C/2] exactly two kept values per group of four columns
//                       <p>.bitmask     U8 [R, ceil(C/8)] as above
// "Zero" means value == 0 (−0 counts as zero and decodes to +0; NaN is kept), as in compressed-tensors'
// `tensor != 0`. For 2:4, a group with fewer than two non-zeros keeps explicit zeros (the earliest
// zero positions, so encoding is deterministic); a group with more than two is an error.

import { PruneError } from "@mama-prune/core";
import { bytesToF32, dtypeByteSize } from "./dtype.ts";
import type { DType, TensorInfo, TensorReader } from "./types.ts";

// ---- Types ----

/** Storage formats for pruned weights: dense zeros or one of the compressed-tensors layouts. */
export type SparseFormat = "dense" | "sparse-bitmask" | "sparse-24-bitmask";

/** A (R, C) float32 matrix in the sparse-bitmask layout. */
export interface SparseBitmaskTensor {
  readonly shape: readonly [number, number];
  /** The non-zero values, row-major. */
  readonly compressed: Float32Array;
  /** R × ceil(C/8) bytes, bits little-endian within each byte. */
  readonly bitmask: Uint8Array;
  /** Exclusive prefix sum of non-zeros per row (length R). */
  readonly rowOffsets: Float64Array;
}

/** A (R, C) float32 matrix in the sparse-24-bitmask layout (C divisible by 4). */
export interface Sparse24Tensor {
  readonly shape: readonly [number, number];
  /** R × C/2 kept values, row-major. */
  readonly compressed: Float32Array;
  /** R × ceil(C/8) bytes, bits little-endian within each byte. */
  readonly bitmask: Uint8Array;
}

/**
 * Bytes of one row of a packed bitmask: ceil(cols / 8).
 *
 * @example
 * bitmaskRowBytes(10); // 2
 */
export function bitmaskRowBytes(cols: number): number {
  return Math.ceil(cols / 8);
}

// ---- Raw (any dtype) encode / decode ----

const FLOAT_DTYPES: ReadonlySet<DType> = new Set(["F64", "F32", "F16", "BF16"]);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** True when element `i` (of `size` bytes) is zero; floats ignore the sign bit (top bit of the last byte). */
function zeroTester(bytes: Uint8Array, dtype: DType): (i: number) => boolean {
  const size = dtypeByteSize(dtype);
  const signMask = FLOAT_DTYPES.has(dtype) ? 0x7f : 0xff;
  // Word views are exact on any host: "all bits zero except the sign bit" does not depend on byte order
  // only when the sign bit is located by byte, so use them on little-endian hosts only.
  if (LITTLE_ENDIAN_HOST && size === 4 && bytes.byteOffset % 4 === 0) {
    const u = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const m = signMask === 0x7f ? 0x7fffffff : 0xffffffff;
    return (i) => (u[i]! & m) === 0;
  }
  if (LITTLE_ENDIAN_HOST && size === 2 && bytes.byteOffset % 2 === 0) {
    const u = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
    const m = signMask === 0x7f ? 0x7fff : 0xffff;
    return (i) => (u[i]! & m) === 0;
  }
  return (i) => {
    const o = i * size;
    if ((bytes[o + size - 1]! & signMask) !== 0) return false;
    for (let b = 0; b < size - 1; b++) if (bytes[o + b] !== 0) return false;
    return true;
  };
}

/** The result of encoding raw little-endian bytes of a (rows, cols) matrix. */
export interface RawSparse {
  /** Kept elements' bytes, row-major. */
  readonly values: Uint8Array;
  /** rows × ceil(cols/8) packed bits. */
  readonly bitmask: Uint8Array;
  /** Kept elements per row. */
  readonly rowCounts: Float64Array;
}

function checkDims(rows: number, cols: number, where: string): void {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0) {
    throw new RangeError(`${where}: rows and cols must be non-negative integers, got ${rows} × ${cols}`);
  }
}

/**
 * Encode the raw bytes of a (rows, cols) matrix of `dtype`: a packed keep-bitmask and the kept
 * elements' bytes. `structure` "unstructured" keeps every non-zero; "2:4" keeps exactly two per
 * group of four columns (padding with the earliest zeros).
 *
 * @param name Tensor name for error messages.
 * @throws PruneError MASK_INVALID when a 2:4 group has more than two non-zeros, SHAPE_MISMATCH
 *   when `bytes` does not hold rows × cols elements or cols is not divisible by 4 for 2:4.
 * @example
 * encodeSparseRaw(new Uint8Array(new Float32Array([0, 2]).buffer), "F32", 1, 2, "unstructured", "w").bitmask; // [2]
 */
export function encodeSparseRaw(
  bytes: Uint8Array,
  dtype: DType,
  rows: number,
  cols: number,
  structure: "unstructured" | "2:4",
  name: string,
): RawSparse {
  checkDims(rows, cols, name);
  const size = dtypeByteSize(dtype);
  if (bytes.byteLength !== rows * cols * size) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${name}: data does not match shape [${rows}, ${cols}] of ${dtype}. Expected ${rows * cols * size} bytes, got ${bytes.byteLength}.`,
    );
  }
  if (structure === "2:4" && cols % 4 !== 0) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${name}: 2:4 sparsity needs groups of 4 columns. Expected cols divisible by 4, got ${cols}.`,
    );
  }
  const rb = bitmaskRowBytes(cols);
  const bitmask = new Uint8Array(rows * rb); // (rows, ceil(cols/8))
  const rowCounts = new Float64Array(rows); // (rows,)
  const isZero = zeroTester(bytes, dtype);
  let nnz = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let count = 0;
    if (structure === "unstructured") {
      for (let k = 0; k < rb; k++) {
        let byte = 0;
        const end = Math.min(8, cols - 8 * k);
        for (let j = 0; j < end; j++) {
          if (!isZero(base + 8 * k + j)) {
            byte |= 1 << j;
            count++;
          }
        }
        bitmask[r * rb + k] = byte;
      }
    } else {
      for (let g = 0; g < cols; g += 4) {
        const nz0 = !isZero(base + g);
        const nz1 = !isZero(base + g + 1);
        const nz2 = !isZero(base + g + 2);
        const nz3 = !isZero(base + g + 3);
        const nonZero = +nz0 + +nz1 + +nz2 + +nz3;
        if (nonZero > 2) {
          throw new PruneError(
            "MASK_INVALID",
            `${name}: row ${r}, columns ${g}..${g + 3} have ${nonZero} non-zeros. Expected at most 2 per group of 4 for sparse-24-bitmask, got ${nonZero}.`,
          );
        }
        let zerosToKeep = 2 - nonZero; // pad with the earliest zeros
        let nibble = 0;
        const flags = [nz0, nz1, nz2, nz3];
        for (let k = 0; k < 4; k++) {
          if (flags[k] || zerosToKeep-- > 0) nibble |= 1 << k;
        }
        bitmask[r * rb + (g >> 3)]! |= nibble << (g & 7);
        count += 2;
      }
    }
    rowCounts[r] = count;
    nnz += count;
  }
  return { values: gather(bytes, size, bitmask, rows, cols, nnz), bitmask, rowCounts };
}

/** Copy the elements whose bits are set, in row-major order (word-sized copies where aligned). */
function gather(
  bytes: Uint8Array,
  size: number,
  bitmask: Uint8Array,
  rows: number,
  cols: number,
  nnz: number,
): Uint8Array {
  const rb = bitmaskRowBytes(cols);
  const wordBytes = size === 8 ? 4 : size;
  const perElem = size / wordBytes;
  const aligned = bytes.byteOffset % wordBytes === 0 ? bytes : bytes.slice();
  const Ctor = wordBytes === 4 ? Uint32Array : wordBytes === 2 ? Uint16Array : Uint8Array;
  const src = new Ctor(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.byteLength / wordBytes); // (numel * perElem,)
  const out = new Ctor(nnz * perElem); // (nnz * perElem,)
  let at = 0;
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < rb; k++) {
      let byte = bitmask[r * rb + k]!;
      while (byte) {
        const bit = 31 - Math.clz32(byte & -byte);
        byte &= byte - 1;
        const from = (r * cols + 8 * k + bit) * perElem;
        out[at++] = src[from]!;
        if (perElem === 2) out[at++] = src[from + 1]!;
      }
    }
  }
  return new Uint8Array(out.buffer, 0, nnz * size);
}

/**
 * Scatter kept elements back into a dense (rows, cols) matrix of raw bytes (zeros elsewhere),
 * validating the bitmask first: padding bits must be zero, the number of set bits must equal the
 * number of values, `rowOffsets` (when given) must be the exclusive prefix sum of set bits per
 * row, and for "2:4" every group of four columns must have exactly two bits set.
 *
 * @throws PruneError TENSOR_IO_MALFORMED naming the tensor when any check fails.
 * @example
 * decodeSparseRaw(values, bitmask, "F32", 4, 8, "unstructured", "w"); // (4 × 8 × 4 bytes)
 */
export function decodeSparseRaw(
  values: Uint8Array,
  bitmask: Uint8Array,
  dtype: DType,
  rows: number,
  cols: number,
  structure: "unstructured" | "2:4",
  name: string,
  rowOffsets?: ArrayLike<number>,
): Uint8Array {
  checkDims(rows, cols, name);
  const size = dtypeByteSize(dtype);
  const rb = bitmaskRowBytes(cols);
  const bad = (what: string): PruneError => new PruneError("TENSOR_IO_MALFORMED", `${name}: ${what}`);
  if (bitmask.byteLength !== rows * rb) {
    throw bad(
      `bitmask has the wrong size for [${rows}, ${cols}]. Expected ${rows * rb} bytes, got ${bitmask.byteLength}.`,
    );
  }
  if (values.byteLength % size !== 0) {
    throw bad(
      `compressed values are not whole ${dtype} elements. Expected a multiple of ${size} bytes, got ${values.byteLength}.`,
    );
  }
  if (rowOffsets !== undefined && rowOffsets.length !== rows) {
    throw bad(`row_offsets has the wrong length. Expected ${rows}, got ${rowOffsets.length}.`);
  }
  const padMask = cols % 8 === 0 ? 0 : (0xff << (cols % 8)) & 0xff;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    if (rowOffsets !== undefined && rowOffsets[r] !== total) {
      throw bad(
        `row_offsets[${r}] is inconsistent with the bitmask. Expected ${total}, got ${rowOffsets[r]}.`,
      );
    }
    for (let k = 0; k < rb; k++) {
      let byte = bitmask[r * rb + k]!;
      if (k === rb - 1 && (byte & padMask) !== 0) {
        throw bad(
          `bitmask row ${r} has bits set past column ${cols - 1}. Expected zero padding bits, got byte 0x${byte.toString(16)}.`,
        );
      }
      while (byte) {
        byte &= byte - 1;
        total++;
      }
    }
    if (structure === "2:4") {
      for (let g = 0; g < cols; g += 4) {
        let kept = 0;
        for (let c = g; c < g + 4; c++) kept += (bitmask[r * rb + (c >> 3)]! >> (c & 7)) & 1;
        if (kept !== 2) {
          throw bad(
            `row ${r}, columns ${g}..${g + 3} keep ${kept} values. Expected exactly 2 per group of 4 (sparse-24-bitmask), got ${kept}.`,
          );
        }
      }
    }
  }
  if (total * size !== values.byteLength) {
    throw bad(
      `bitmask and compressed values disagree. Expected ${total} values (set bits), got ${values.byteLength / size}.`,
    );
  }
  return scatter(values, size, bitmask, rows, cols);
}

/** Inverse of `gather`: place the kept elements at their set bits, zeros elsewhere. */
function scatter(
  values: Uint8Array,
  size: number,
  bitmask: Uint8Array,
  rows: number,
  cols: number,
): Uint8Array {
  const rb = bitmaskRowBytes(cols);
  const wordBytes = size === 8 ? 4 : size;
  const perElem = size / wordBytes;
  const aligned = values.byteOffset % wordBytes === 0 ? values : values.slice();
  const Ctor = wordBytes === 4 ? Uint32Array : wordBytes === 2 ? Uint16Array : Uint8Array;
  const src = new Ctor(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.byteLength / wordBytes); // (nnz * perElem,)
  const out = new Ctor(rows * cols * perElem); // (rows, cols) elements
  let at = 0;
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < rb; k++) {
      let byte = bitmask[r * rb + k]!;
      while (byte) {
        const bit = 31 - Math.clz32(byte & -byte); // lowest set bit = lowest column first
        byte &= byte - 1;
        const to = (r * cols + 8 * k + bit) * perElem;
        out[to] = src[at++]!;
        if (perElem === 2) out[to + 1] = src[at++]!;
      }
    }
  }
  return new Uint8Array(out.buffer, 0, rows * cols * size);
}

// ---- Float32 API ----

function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function bytesF32(b: Uint8Array): Float32Array {
  const copy = b.byteOffset % 4 === 0 ? b : b.slice();
  return new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4);
}

function checkF32(dense: Float32Array, rows: number, cols: number, where: string): void {
  checkDims(rows, cols, where);
  if (dense.length !== rows * cols) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where}: dense matrix length does not match [${rows}, ${cols}]. Expected ${rows * cols}, got ${dense.length}.`,
    );
  }
}

/**
 * Compress a dense (rows, cols) float32 matrix to the sparse-bitmask layout (exact: decoding gives
 * the same values, with −0 becoming +0).
 *
 * @throws PruneError SHAPE_MISMATCH when `dense.length != rows × cols`.
 * @example
 * const t = encodeSparseBitmask(new Float32Array([0, 1, 2, 0]), 2, 2);
 * t.compressed; // Float32Array [1, 2]
 * t.rowOffsets; // Float64Array [0, 1]
 */
export function encodeSparseBitmask(
  dense: Float32Array,
  rows: number,
  cols: number,
  name = "encodeSparseBitmask",
): SparseBitmaskTensor {
  checkF32(dense, rows, cols, name);
  const raw = encodeSparseRaw(f32Bytes(dense), "F32", rows, cols, "unstructured", name);
  return {
    shape: [rows, cols],
    compressed: bytesF32(raw.values),
    bitmask: raw.bitmask,
    rowOffsets: exclusivePrefixSum(raw.rowCounts),
  };
}

/**
 * Decompress a sparse-bitmask tensor to a dense float32 matrix (rows × cols, row-major).
 *
 * @throws PruneError TENSOR_IO_MALFORMED when bitmask, values and row offsets disagree.
 * @example
 * decodeSparseBitmask(encodeSparseBitmask(w, r, c)); // equals w
 */
export function decodeSparseBitmask(t: SparseBitmaskTensor, name = "decodeSparseBitmask"): Float32Array {
  const [rows, cols] = t.shape;
  return bytesF32(
    decodeSparseRaw(f32Bytes(t.compressed), t.bitmask, "F32", rows, cols, "unstructured", name, t.rowOffsets),
  );
}

/**
 * Compress a 2:4-sparse (rows, cols) float32 matrix (at most two non-zeros in every group of four
 * consecutive columns of a row) to the sparse-24-bitmask layout.
 *
 * @throws PruneError MASK_INVALID naming the row and columns of a group with more than two
 *   non-zeros; SHAPE_MISMATCH when cols is not divisible by 4 or the length is wrong.
 * @example
 * encodeSparse24(new Float32Array([0, 5, 0, 0]), 1, 4).compressed; // Float32Array [0, 5]
 */
export function encodeSparse24(
  dense: Float32Array,
  rows: number,
  cols: number,
  name = "encodeSparse24",
): Sparse24Tensor {
  checkF32(dense, rows, cols, name);
  const raw = encodeSparseRaw(f32Bytes(dense), "F32", rows, cols, "2:4", name);
  return { shape: [rows, cols], compressed: bytesF32(raw.values), bitmask: raw.bitmask };
}

/**
 * Decompress a sparse-24-bitmask tensor to a dense float32 matrix.
 *
 * @throws PruneError TENSOR_IO_MALFORMED when a group does not keep exactly two values or the
 *   value count disagrees with the bitmask.
 * @example
 * decodeSparse24(encodeSparse24(w, r, c)); // equals w
 */
export function decodeSparse24(t: Sparse24Tensor, name = "decodeSparse24"): Float32Array {
  const [rows, cols] = t.shape;
  return bytesF32(decodeSparseRaw(f32Bytes(t.compressed), t.bitmask, "F32", rows, cols, "2:4", name));
}

function exclusivePrefixSum(counts: Float64Array): Float64Array {
  const out = new Float64Array(counts.length); // (rows,)
  let acc = 0;
  for (let i = 0; i < counts.length; i++) {
    out[i] = acc;
    acc += counts[i]!;
  }
  return out;
}

// ---- Checkpoint entries ----

/**
 * Little-endian int64 bytes of safe integers (the dtype compressed-tensors uses for `.shape` and
 * `.row_offsets`).
 *
 * @throws RangeError when a value is not an integer.
 * @example
 * i64Bytes([1]); // Uint8Array [1, 0, 0, 0, 0, 0, 0, 0]
 */
export function i64Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 8); // (n * 8,)
  const dv = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) dv.setBigInt64(8 * i, BigInt(values[i]!), true);
  return out;
}

/** One stored tensor produced by {@link compressWeight}: name, dtype, shape and raw bytes. */
export interface RawTensorEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/**
 * The stored tensors that replace a dense 2-D weight `<p>.weight` in `format` (see the layout at
 * the top of this file). The prefix drops a trailing ".weight", as compressed-tensors does.
 *
 * @throws PruneError TENSOR_IO_UNSUPPORTED for a tensor that is not 2-D; MASK_INVALID /
 *   SHAPE_MISMATCH from {@link encodeSparseRaw}.
 * @example
 * compressWeight("l.weight", "F32", [2, 4], bytes, "sparse-bitmask").map((e) => e.name);
 * // ["l.shape", "l.compressed", "l.bitmask", "l.row_offsets"]
 */
export function compressWeight(
  name: string,
  dtype: DType,
  shape: readonly number[],
  data: Uint8Array,
  format: "sparse-bitmask" | "sparse-24-bitmask",
): RawTensorEntry[] {
  if (shape.length !== 2) {
    throw new PruneError(
      "TENSOR_IO_UNSUPPORTED",
      `${name}: ${format} stores 2-D weights only. Expected a shape of length 2, got [${shape.join(", ")}].`,
    );
  }
  const [rows, cols] = shape as [number, number];
  const prefix = name.endsWith(".weight") ? name.slice(0, -".weight".length) : name;
  const raw = encodeSparseRaw(
    data,
    dtype,
    rows,
    cols,
    format === "sparse-bitmask" ? "unstructured" : "2:4",
    name,
  );
  const nnz = raw.values.byteLength / dtypeByteSize(dtype);
  const mask: RawTensorEntry = {
    name: `${prefix}.bitmask`,
    dtype: "U8",
    shape: [rows, bitmaskRowBytes(cols)],
    data: raw.bitmask,
  };
  if (format === "sparse-bitmask") {
    return [
      { name: `${prefix}.shape`, dtype: "I64", shape: [2], data: i64Bytes([rows, cols]) },
      { name: `${prefix}.compressed`, dtype, shape: [nnz], data: raw.values },
      mask,
      {
        name: `${prefix}.row_offsets`,
        dtype: "I64",
        shape: [rows],
        data: i64Bytes(exclusivePrefixSum(raw.rowCounts)),
      },
    ];
  }
  return [
    { name: `${prefix}.shape`, dtype: "I64", shape: [2, 1], data: i64Bytes([rows, cols]) },
    { name: `${prefix}.compressed`, dtype, shape: [rows, cols / 2], data: raw.values },
    mask,
  ];
}

// ---- config.json ----

/** `quantization_config.sparsity_config` as compressed-tensors writes it. */
export interface SparsityConfig {
  readonly format: SparseFormat;
  /** Fraction of zeros over the targeted weights, 0..1. */
  readonly global_sparsity: number;
  /** "unstructured" or "2:4". */
  readonly sparsity_structure: string;
  /** Module names, class names ("Linear") or "re:"-prefixed regexes the format applies to. */
  readonly targets: readonly string[];
  /** Modules left dense. */
  readonly ignore: readonly string[];
}

/** Options of {@link sparsityConfig}. */
export interface SparsityConfigOptions {
  readonly format: SparseFormat;
  /** Fraction of zeros over the targeted weights, in [0, 1]. */
  readonly globalSparsity: number;
  /** Default: "2:4" for sparse-24-bitmask, else "unstructured". */
  readonly sparsityStructure?: string;
  /** Default `["Linear"]`. */
  readonly targets?: readonly string[];
  /** Default `["lm_head"]`. */
  readonly ignore?: readonly string[];
}

/**
 * Build `quantization_config.sparsity_config` for config.json, as compressed-tensors records it.
 *
 * @throws RangeError when `globalSparsity` is outside [0, 1].
 * @example
 * sparsityConfig({ format: "sparse-bitmask", globalSparsity: 0.5 });
 * // { format: "sparse-bitmask", global_sparsity: 0.5, sparsity_structure: "unstructured", targets: ["Linear"], ignore: ["lm_head"] }
 */
export function sparsityConfig(options: SparsityConfigOptions): SparsityConfig {
  const s = options.globalSparsity;
  if (!(typeof s === "number" && s >= 0 && s <= 1)) {
    throw new RangeError(`sparsityConfig: globalSparsity must be in [0, 1], got ${s}`);
  }
  return {
    format: options.format,
    global_sparsity: s,
    sparsity_structure:
      options.sparsityStructure ?? (options.format === "sparse-24-bitmask" ? "2:4" : "unstructured"),
    targets: [...(options.targets ?? ["Linear"])],
    ignore: [...(options.ignore ?? ["lm_head"])],
  };
}

/**
 * The sparse format recorded in a config.json object (`quantization_config.sparsity_config.format`),
 * or "dense" when none is recorded.
 *
 * @throws PruneError TENSOR_IO_UNSUPPORTED for an unknown format or a compressed-tensors
 *   quantization scheme (this package stores sparsity only).
 * @example
 * sparseFormatOf({ quantization_config: { sparsity_config: { format: "sparse-bitmask" } } }); // "sparse-bitmask"
 */
export function sparseFormatOf(
  config: Readonly<Record<string, unknown>>,
  where = "config.json",
): SparseFormat {
  const q = config["quantization_config"];
  if (q === undefined || q === null || typeof q !== "object") return "dense";
  const qc = q as Record<string, unknown>;
  const groups = qc["config_groups"];
  if (groups !== undefined && groups !== null && Object.keys(groups as object).length > 0) {
    throw new PruneError(
      "TENSOR_IO_UNSUPPORTED",
      `${where}: quantization_config.config_groups describes quantized weights. Expected sparsity only, got groups ${Object.keys(groups as object).join(", ")}.`,
    );
  }
  const sc = qc["sparsity_config"];
  if (sc === undefined || sc === null) return "dense";
  const format = (sc as Record<string, unknown>)["format"];
  if (format === "dense" || format === "sparse-bitmask" || format === "sparse-24-bitmask") return format;
  throw new PruneError(
    "TENSOR_IO_UNSUPPORTED",
    `${where}: quantization_config.sparsity_config.format is not supported. Expected "dense", "sparse-bitmask" or "sparse-24-bitmask", got ${JSON.stringify(format)}.`,
  );
}

// ---- Reading: transparent decompression ----

function readInts(bytes: Uint8Array, dtype: DType, where: string): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = dtypeByteSize(dtype);
  const out: number[] = [];
  for (let o = 0; o < bytes.byteLength; o += size) {
    let v: number;
    if (dtype === "I64") v = Number(dv.getBigInt64(o, true));
    else if (dtype === "U64") v = Number(dv.getBigUint64(o, true));
    else if (dtype === "I32") v = dv.getInt32(o, true);
    else if (dtype === "U32") v = dv.getUint32(o, true);
    else {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${where}: integer tensor has dtype ${dtype}. Expected I64, U64, I32 or U32, got ${dtype}.`,
      );
    }
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${where}: value out of range. Expected a non-negative integer, got ${v}.`,
      );
    }
    out.push(v);
  }
  return out;
}

interface SparseGroup {
  readonly prefix: string;
  readonly info: TensorInfo;
  readonly structure: "unstructured" | "2:4";
  readonly hasOffsets: boolean;
}

/**
 * Wrap a reader of a checkpoint stored in a compressed-tensors sparse layout so that it lists and
 * reads dense weights: each `<p>.shape/.compressed/.bitmask[/.row_offsets]` group appears as
 * `<p>.weight` (dtype of `.compressed`), decompressed and validated when read. Other tensors pass
 * through. The small `.shape` tensors are read up front.
 *
 * @param format The recorded format ({@link sparseFormatOf}); "dense" returns `reader` unchanged.
 * @throws PruneError TENSOR_IO_MALFORMED naming the tensor when a group is incomplete or its parts
 *   have inconsistent shapes or dtypes (at open), or its data is inconsistent (at read).
 * @example
 * const dense = await decompressSparseReader(reader, "sparse-bitmask");
 * await dense.readF32("model.layers.0.self_attn.q_proj.weight");
 */
export async function decompressSparseReader(
  reader: TensorReader,
  format: SparseFormat,
): Promise<TensorReader> {
  if (format === "dense") return reader;
  const structure = format === "sparse-24-bitmask" ? "2:4" : "unstructured";
  const src = reader.source;
  const bad = (what: string): PruneError => new PruneError("TENSOR_IO_MALFORMED", `${src}: ${what}`);
  const groups = new Map<string, SparseGroup>(); // dense name → group
  const partOf = new Set<string>();
  for (const t of reader.list()) {
    if (!t.name.endsWith(".bitmask")) continue;
    const prefix = t.name.slice(0, -".bitmask".length);
    const parts = [
      ".shape",
      ".compressed",
      ".bitmask",
      ...(format === "sparse-bitmask" ? [".row_offsets"] : []),
    ];
    for (const p of parts) {
      if (!reader.has(prefix + p)) {
        throw bad(
          `sparse weight "${prefix}" is incomplete. Expected tensor "${prefix}${p}" (${format}), got none.`,
        );
      }
    }
    const shapeInfo = reader.info(`${prefix}.shape`);
    const dims = readInts(
      await reader.readRaw(`${prefix}.shape`),
      shapeInfo.dtype,
      `${src}: ${prefix}.shape`,
    );
    if (dims.length !== 2) {
      throw bad(`"${prefix}.shape" must hold a 2-D shape. Expected 2 values, got [${dims.join(", ")}].`);
    }
    const [rows, cols] = dims as [number, number];
    // Positive and bounded: a (huge, 0) shape would need no bitmask bytes yet loop over every row.
    if (rows < 1 || cols < 1 || rows > 2 ** 31 || cols > 2 ** 31) {
      throw bad(`"${prefix}.shape" is out of range. Expected dims in [1, 2^31], got [${rows}, ${cols}].`);
    }
    if (format === "sparse-bitmask") {
      const offs = reader.info(`${prefix}.row_offsets`);
      const n = offs.shape.reduce((a, b) => a * b, 1);
      if (n !== rows) {
        throw bad(
          `"${prefix}.row_offsets" has the wrong length for ${rows} rows. Expected ${rows} values, got ${n}.`,
        );
      }
    }
    const mask = reader.info(`${prefix}.bitmask`);
    if (mask.dtype !== "U8" && mask.dtype !== "I8") {
      throw bad(`"${prefix}.bitmask" has dtype ${mask.dtype}. Expected U8, got ${mask.dtype}.`);
    }
    if (mask.byteLength !== rows * bitmaskRowBytes(cols)) {
      throw bad(
        `"${prefix}.bitmask" does not fit shape [${rows}, ${cols}]. Expected ${rows * bitmaskRowBytes(cols)} bytes, got ${mask.byteLength}.`,
      );
    }
    const values = reader.info(`${prefix}.compressed`);
    const size = dtypeByteSize(values.dtype);
    if (structure === "2:4" && (cols % 4 !== 0 || values.byteLength !== (rows * cols * size) / 2)) {
      throw bad(
        `"${prefix}.compressed" does not fit 2:4 shape [${rows}, ${cols}]. Expected ${rows * (cols / 2)} values and cols divisible by 4, got ${values.byteLength / size} values.`,
      );
    }
    if (values.byteLength > rows * cols * size) {
      throw bad(
        `"${prefix}.compressed" holds more values than [${rows}, ${cols}]. Expected at most ${rows * cols}, got ${values.byteLength / size}.`,
      );
    }
    const denseName = `${prefix}.weight`;
    if (reader.has(denseName)) {
      throw bad(`"${denseName}" is stored both dense and as ${format}. Expected one of them, got both.`);
    }
    groups.set(denseName, {
      prefix,
      structure,
      hasOffsets: format === "sparse-bitmask",
      info: { name: denseName, dtype: values.dtype, shape: [rows, cols], byteLength: rows * cols * size },
    });
    for (const p of parts) partOf.add(prefix + p);
  }
  const infos: TensorInfo[] = [];
  const seenGroups = new Set<string>();
  for (const t of reader.list()) {
    if (!partOf.has(t.name)) {
      infos.push(t);
      continue;
    }
    const prefix = t.name.slice(0, t.name.lastIndexOf("."));
    const g = groups.get(`${prefix}.weight`);
    if (g !== undefined && !seenGroups.has(g.info.name)) {
      seenGroups.add(g.info.name);
      infos.push(g.info);
    }
  }
  const byName = new Map(infos.map((t) => [t.name, t]));
  const info = (name: string): TensorInfo => {
    const t = byName.get(name);
    if (t === undefined) {
      throw new PruneError(
        "TENSOR_IO_NOT_FOUND",
        `${src}: no tensor named "${name}" (after ${format} decompression).`,
      );
    }
    return t;
  };
  const readRaw = async (name: string): Promise<Uint8Array> => {
    const g = groups.get(name);
    if (g === undefined) {
      info(name);
      return reader.readRaw(name);
    }
    const [rows, cols] = g.info.shape as [number, number];
    const values = await reader.readRaw(`${g.prefix}.compressed`);
    const mask = await reader.readRaw(`${g.prefix}.bitmask`);
    let offsets: number[] | undefined;
    if (g.hasOffsets) {
      const oi = reader.info(`${g.prefix}.row_offsets`);
      offsets = readInts(
        await reader.readRaw(`${g.prefix}.row_offsets`),
        oi.dtype,
        `${src}: ${g.prefix}.row_offsets`,
      );
    }
    return decodeSparseRaw(values, mask, g.info.dtype, rows, cols, g.structure, `${src}: ${name}`, offsets);
  };
  return {
    source: src,
    list: (): readonly TensorInfo[] => infos,
    has: (name: string): boolean => byName.has(name),
    info,
    readRaw,
    readF32: async (name: string): Promise<Float32Array> => {
      const g = groups.get(name);
      if (g === undefined) {
        info(name);
        return reader.readF32(name);
      }
      return bytesToF32(await readRaw(name), g.info.dtype, `${src}: ${name}`);
    },
    close: (): Promise<void> => reader.close(),
  };
}
