// Sparse weight layouts the kernels read, their validation, conversion from dense, and row slicing.
//
// "sparse-bitmask" and "sparse-24-bitmask" have exactly the fields of @mama-prune/tensor-io's
// SparseBitmaskTensor / Sparse24Tensor (compressed-tensors layouts), so a tensor read from a saved
// sparse checkpoint is used as stored: `{ format: "sparse-bitmask", ...encodeSparseBitmask(w, r, c) }`.
// This package does not depend on tensor-io: the types are structural.

import { PruneError } from "@mama-prune/core";

/** Compressed sparse rows: row r's non-zeros are values[rowPtr[r] .. rowPtr[r+1]) at columns colIdx[…]. */
export interface CsrWeight {
  readonly format: "csr";
  /** [rows, cols] = [out_features, in_features]. */
  readonly shape: readonly [number, number];
  /** (rows + 1,) exclusive prefix sum of non-zeros per row, rowPtr[rows] = nnz. */
  readonly rowPtr: Uint32Array;
  /** (nnz,) column of each non-zero, < cols. */
  readonly colIdx: Uint32Array;
  /** (nnz,) */
  readonly values: Float32Array;
}

/** compressed-tensors sparse-bitmask (as tensor-io's encodeSparseBitmask writes it). */
export interface BitmaskWeight {
  readonly format: "sparse-bitmask";
  readonly shape: readonly [number, number];
  /** (nnz,) kept values, row-major. */
  readonly compressed: Float32Array;
  /** (rows, ceil(cols/8)) bytes; bit j of byte b in row r ⇔ element (r, 8b + j) kept; padding bits 0. */
  readonly bitmask: Uint8Array;
  /** (rows,) exclusive prefix sum of kept values per row (int64 on disk; any numbers here). */
  readonly rowOffsets: ArrayLike<number>;
}

/** compressed-tensors sparse-24-bitmask (as tensor-io's encodeSparse24 writes it); cols divisible by 4. */
export interface Sparse24Weight {
  readonly format: "sparse-24-bitmask";
  readonly shape: readonly [number, number];
  /** (rows, cols/2) exactly two kept values per group of four columns. */
  readonly compressed: Float32Array;
  /** (rows, ceil(cols/8)) bytes, exactly two bits set per group of four. */
  readonly bitmask: Uint8Array;
}

/** Any sparse layout a weight can be registered with. */
export type SparseWeight = CsrWeight | BitmaskWeight | Sparse24Weight;

/** The format names of {@link SparseWeight}. */
export type SparseWeightFormat = SparseWeight["format"];

// ---- Validation ----

const malformed = (where: string, what: string): PruneError =>
  new PruneError("TENSOR_IO_MALFORMED", `${where}: ${what}`);

function popcount8(b: number): number {
  let v = b - ((b >> 1) & 0x55);
  v = (v & 0x33) + ((v >> 2) & 0x33);
  return (v + (v >> 4)) & 0x0f;
}

/**
 * Number of stored values of a sparse weight (2:4 counts its padding zeros).
 *
 * @example
 * sparseNnz(sparseFromDense(new Float32Array([0, 2, 3, 0]), 1, 4, "csr")); // 2
 */
export function sparseNnz(sw: SparseWeight): number {
  return sw.format === "csr" ? sw.values.length : sw.compressed.length;
}

/**
 * Check that a sparse weight is internally consistent, so the GPU kernels can never read out of
 * bounds or silently skip values: shape; CSR row pointers monotone from 0 to nnz and columns < cols;
 * bitmask size, zero padding bits, set bits = values, row offsets = prefix sums of set bits; 2:4
 * groups with exactly two bits.
 *
 * @param name Weight name for error messages.
 * @throws PruneError TENSOR_IO_MALFORMED naming the weight and the first inconsistency.
 * @throws TypeError when a field has the wrong array type.
 * @example
 * validateSparseWeight({ format: "sparse-bitmask", ...encodeSparseBitmask(w, 2, 8) }, "q_proj");
 */
export function validateSparseWeight(sw: SparseWeight, name = "sparse weight"): void {
  const [rows, cols] = sw.shape;
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0) {
    throw malformed(
      name,
      `shape must be two non-negative integers. Expected [rows, cols], got [${sw.shape.join(", ")}].`,
    );
  }
  if (sw.format === "csr") {
    if (
      !(sw.rowPtr instanceof Uint32Array) ||
      !(sw.colIdx instanceof Uint32Array) ||
      !(sw.values instanceof Float32Array)
    ) {
      throw new TypeError(`${name}: csr needs rowPtr/colIdx Uint32Array and values Float32Array`);
    }
    const nnz = sw.values.length;
    if (sw.rowPtr.length !== rows + 1)
      throw malformed(
        name,
        `csr rowPtr has the wrong length. Expected ${rows + 1}, got ${sw.rowPtr.length}.`,
      );
    if (sw.colIdx.length !== nnz)
      throw malformed(
        name,
        `csr colIdx and values differ in length. Expected ${nnz}, got ${sw.colIdx.length}.`,
      );
    if (sw.rowPtr[0] !== 0 || sw.rowPtr[rows] !== nnz) {
      throw malformed(
        name,
        `csr rowPtr must run from 0 to nnz. Expected 0 … ${nnz}, got ${sw.rowPtr[0]} … ${sw.rowPtr[rows]}.`,
      );
    }
    for (let r = 0; r < rows; r++) {
      if (sw.rowPtr[r + 1]! < sw.rowPtr[r]!)
        throw malformed(
          name,
          `csr rowPtr decreases at row ${r}. Expected non-decreasing, got ${sw.rowPtr[r]} then ${sw.rowPtr[r + 1]}.`,
        );
    }
    for (let q = 0; q < nnz; q++) {
      if (sw.colIdx[q]! >= cols)
        throw malformed(name, `csr colIdx[${q}] is out of range. Expected < ${cols}, got ${sw.colIdx[q]}.`);
    }
    return;
  }
  if (!(sw.compressed instanceof Float32Array) || !(sw.bitmask instanceof Uint8Array)) {
    throw new TypeError(`${name}: ${sw.format} needs compressed Float32Array and bitmask Uint8Array`);
  }
  const rb = Math.ceil(cols / 8);
  if (sw.bitmask.length !== rows * rb) {
    throw malformed(
      name,
      `bitmask has the wrong size for [${rows}, ${cols}]. Expected ${rows * rb} bytes, got ${sw.bitmask.length}.`,
    );
  }
  const pad = cols % 8 === 0 ? 0 : (0xff << (cols % 8)) & 0xff;
  if (sw.format === "sparse-24-bitmask") {
    if (cols % 4 !== 0)
      throw malformed(name, `2:4 needs groups of four columns. Expected cols divisible by 4, got ${cols}.`);
    if (sw.compressed.length !== (rows * cols) / 2) {
      throw malformed(
        name,
        `2:4 compressed has the wrong length. Expected ${(rows * cols) / 2}, got ${sw.compressed.length}.`,
      );
    }
    for (let r = 0; r < rows; r++) {
      for (let b = 0; b < rb; b++) {
        const byte = sw.bitmask[r * rb + b]!;
        const lo = popcount8(byte & 0x0f);
        const hasHi = 8 * b + 4 < cols;
        const hi = popcount8(byte >> 4);
        if (lo !== 2 || (hasHi ? hi !== 2 : hi !== 0)) {
          throw malformed(
            name,
            `row ${r}, bitmask byte ${b} (0x${byte.toString(16)}) is not 2:4. Expected exactly two bits per group of four, got ${lo} and ${hi}.`,
          );
        }
      }
    }
    return;
  }
  if (sw.rowOffsets.length !== rows)
    throw malformed(name, `row_offsets has the wrong length. Expected ${rows}, got ${sw.rowOffsets.length}.`);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    if (sw.rowOffsets[r] !== total) {
      throw malformed(
        name,
        `row_offsets[${r}] disagrees with the bitmask. Expected ${total}, got ${sw.rowOffsets[r]}.`,
      );
    }
    for (let b = 0; b < rb; b++) {
      const byte = sw.bitmask[r * rb + b]!;
      if (b === rb - 1 && (byte & pad) !== 0) {
        throw malformed(
          name,
          `row ${r} has bitmask padding bits set. Expected 0 beyond column ${cols - 1}, got byte 0x${byte.toString(16)}.`,
        );
      }
      total += popcount8(byte);
    }
  }
  if (total !== sw.compressed.length) {
    throw malformed(
      name,
      `compressed values disagree with the bitmask. Expected ${total} values, got ${sw.compressed.length}.`,
    );
  }
}

// ---- Conversions ----

function checkDense(where: string, w: Float32Array, rows: number, cols: number): void {
  if (!(w instanceof Float32Array)) throw new TypeError(`${where}: w must be a Float32Array`);
  if (
    !Number.isSafeInteger(rows) ||
    !Number.isSafeInteger(cols) ||
    rows < 0 ||
    cols < 0 ||
    w.length !== rows * cols
  ) {
    throw new RangeError(`${where}: w has ${w.length} elements, expected rows·cols for [${rows}, ${cols}]`);
  }
}

/**
 * Build a sparse layout of a dense (rows, cols) matrix: every non-zero is kept ("zero" means == 0,
 * so −0 is dropped and NaN kept, as in compressed-tensors). For "sparse-24-bitmask" each group of four
 * must have at most two non-zeros; groups with fewer keep the earliest zeros (tensor-io's rule).
 *
 * @throws PruneError MASK_INVALID for a group with more than two non-zeros (2:4), SHAPE_MISMATCH
 *   when cols is not divisible by 4 (2:4).
 * @throws RangeError when the length does not match the shape.
 * @example
 * sparseFromDense(new Float32Array([0, 2, 3, 0]), 1, 4, "csr").colIdx; // Uint32Array [1, 2]
 */
export function sparseFromDense(
  w: Float32Array,
  rows: number,
  cols: number,
  format: SparseWeightFormat,
  name = "sparseFromDense",
): SparseWeight {
  checkDense(name, w, rows, cols);
  const shape: [number, number] = [rows, cols];
  if (format === "sparse-24-bitmask") {
    if (cols % 4 !== 0) {
      throw new PruneError(
        "SHAPE_MISMATCH",
        `${name}: 2:4 needs groups of four columns. Expected cols divisible by 4, got ${cols}.`,
      );
    }
    const rb = Math.ceil(cols / 8);
    const bitmask = new Uint8Array(rows * rb); // (rows, ceil(cols/8))
    const compressed = new Float32Array((rows * cols) / 2); // (rows, cols/2)
    let q = 0;
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < cols; g += 4) {
        const o = r * cols + g;
        let nz = 0;
        for (let t = 0; t < 4; t++) if (w[o + t] !== 0) nz++;
        if (nz > 2) {
          throw new PruneError(
            "MASK_INVALID",
            `${name}: row ${r}, columns ${g}..${g + 3} have ${nz} non-zeros. Expected at most 2 per group of 4, got ${nz}.`,
          );
        }
        let zerosToKeep = 2 - nz;
        let nib = 0;
        for (let t = 0; t < 4; t++) {
          const v = w[o + t]!;
          if (v !== 0 || zerosToKeep-- > 0) {
            nib |= 1 << t;
            compressed[q++] = v === 0 ? 0 : v;
          }
        }
        bitmask[r * rb + (g >> 3)]! |= nib << (g & 7);
      }
    }
    return { format, shape, compressed, bitmask };
  }
  let nnz = 0;
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) nnz++;
  const values = new Float32Array(nnz); // (nnz,)
  const rowPtr = new Uint32Array(rows + 1); // (rows + 1,)
  if (format === "csr") {
    const colIdx = new Uint32Array(nnz); // (nnz,)
    let q = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = w[r * cols + c]!;
        if (v !== 0) {
          colIdx[q] = c;
          values[q++] = v;
        }
      }
      rowPtr[r + 1] = q;
    }
    return { format, shape, rowPtr, colIdx, values };
  }
  const rb = Math.ceil(cols / 8);
  const bitmask = new Uint8Array(rows * rb); // (rows, ceil(cols/8))
  const rowOffsets = new Float64Array(rows); // (rows,)
  let q = 0;
  for (let r = 0; r < rows; r++) {
    rowOffsets[r] = q;
    for (let c = 0; c < cols; c++) {
      const v = w[r * cols + c]!;
      if (v !== 0) {
        bitmask[r * rb + (c >> 3)]! |= 1 << (c & 7);
        values[q++] = v;
      }
    }
  }
  return { format, shape, compressed: values, bitmask, rowOffsets };
}

/**
 * Expand a sparse weight to a dense (rows, cols) Float32Array (zeros elsewhere). Validates first.
 *
 * @throws PruneError TENSOR_IO_MALFORMED from {@link validateSparseWeight}.
 * @example
 * sparseToDense(sparseFromDense(w, r, c, "csr")); // equals w (with −0 as +0)
 */
export function sparseToDense(sw: SparseWeight, name = "sparseToDense"): Float32Array {
  validateSparseWeight(sw, name);
  const [rows, cols] = sw.shape;
  const out = new Float32Array(rows * cols); // (rows, cols)
  if (sw.format === "csr") {
    for (let r = 0; r < rows; r++) {
      for (let q = sw.rowPtr[r]!; q < sw.rowPtr[r + 1]!; q++) out[r * cols + sw.colIdx[q]!] = sw.values[q]!;
    }
    return out;
  }
  const rb = Math.ceil(cols / 8);
  let q = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if ((sw.bitmask[r * rb + (c >> 3)]! >> (c & 7)) & 1) out[r * cols + c] = sw.compressed[q++]!;
    }
  }
  return out;
}

/**
 * Rows [r0, r1) of a sparse weight as a sparse weight of the same format (copies; used to split a
 * weight whose buffers exceed a GPU binding limit).
 *
 * @throws RangeError when the range is outside [0, rows].
 * @example
 * sliceSparseRows(sw, 0, 128).shape; // [128, cols]
 */
export function sliceSparseRows(sw: SparseWeight, r0: number, r1: number): SparseWeight {
  const [rows, cols] = sw.shape;
  if (!Number.isInteger(r0) || !Number.isInteger(r1) || r0 < 0 || r1 > rows || r0 > r1) {
    throw new RangeError(`sliceSparseRows: rows [${r0}, ${r1}) outside [0, ${rows})`);
  }
  const shape: [number, number] = [r1 - r0, cols];
  const rb = Math.ceil(cols / 8);
  if (sw.format === "csr") {
    const p0 = sw.rowPtr[r0]!;
    const p1 = sw.rowPtr[r1]!;
    const rowPtr = new Uint32Array(r1 - r0 + 1); // (rows' + 1,)
    for (let r = r0; r <= r1; r++) rowPtr[r - r0] = sw.rowPtr[r]! - p0;
    return { format: "csr", shape, rowPtr, colIdx: sw.colIdx.slice(p0, p1), values: sw.values.slice(p0, p1) };
  }
  const bitmask = sw.bitmask.slice(r0 * rb, r1 * rb); // (rows', ceil(cols/8))
  if (sw.format === "sparse-24-bitmask") {
    return {
      format: "sparse-24-bitmask",
      shape,
      bitmask,
      compressed: sw.compressed.slice((r0 * cols) / 2, (r1 * cols) / 2),
    };
  }
  const off0 = sw.rowOffsets[r0] ?? sw.compressed.length;
  const off1 = r1 < rows ? sw.rowOffsets[r1]! : sw.compressed.length;
  const rowOffsets = new Float64Array(r1 - r0); // (rows',)
  for (let r = r0; r < r1; r++) rowOffsets[r - r0] = sw.rowOffsets[r]! - off0;
  return {
    format: "sparse-bitmask",
    shape,
    bitmask,
    rowOffsets,
    compressed: sw.compressed.slice(off0, off1),
  };
}

/**
 * Bytes a sparse weight's largest single buffer needs on the GPU (for binding-limit checks).
 *
 * @example
 * sparseMaxBufferBytes(sparseFromDense(w, 4096, 4096, "sparse-bitmask")); // ≈ 4 · nnz
 */
export function sparseMaxBufferBytes(sw: SparseWeight): number {
  const [rows, cols] = sw.shape;
  if (sw.format === "csr") return 4 * Math.max(rows + 1, sw.values.length);
  return Math.max(4 * sw.compressed.length, rows * Math.ceil(cols / 8) + 8, 4 * rows);
}
