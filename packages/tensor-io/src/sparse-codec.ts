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
import { dtypeByteSize } from "./dtype.ts";
import type { DType } from "./types.ts";

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

/** Exclusive prefix sum of per-row counts (the `.row_offsets` of sparse-bitmask). Internal. */
export function exclusivePrefixSum(counts: Float64Array): Float64Array {
  const out = new Float64Array(counts.length); // (rows,)
  let acc = 0;
  for (let i = 0; i < counts.length; i++) {
    out[i] = acc;
    acc += counts[i]!;
  }
  return out;
}
