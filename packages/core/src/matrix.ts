/** A dense row-major float32 matrix: shape [rows, cols] = [out_features, in_features] for a Linear weight. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array; // (rows * cols,)
}

/**
 * Create a Matrix, checking that the data length matches the shape.
 *
 * @throws RangeError when `data.length !== rows * cols` or a dimension is not a non-negative integer.
 * @example
 * const m = matrix(2, 3); m.data.length; // 6
 */
export function matrix(rows: number, cols: number, data?: Float32Array): Matrix {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new RangeError(`matrix: shape must be non-negative integers, got [${rows}, ${cols}]`);
  }
  const d = data ?? new Float32Array(rows * cols);
  if (d.length !== rows * cols) {
    throw new RangeError(`matrix: data length ${d.length} does not match shape [${rows}, ${cols}]`);
  }
  return { rows, cols, data: d };
}

/** Product of a shape's dimensions (1 for a scalar shape []). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
