// ---- Embedding calibration tokens from a checkpoint: only the rows of the tokens that occur ----

import { PruneError } from "@mama-prune/core";
import { bytesToF32Into, type Checkpoint, dtypeByteSize } from "@mama-prune/tensor-io";

/** Contiguous rows read in one go at most (bounds the scratch: 256 rows × 2048 × f32 = 2 MiB). */
const RUN_ROWS = 256;

/**
 * The embedding rows of `tokens` (tokens × hidden, float32), read from `ckpt` without the rest of the
 * matrix: with `readRawRange` only the distinct tokens' rows are read (contiguous rows together), in
 * the stored dtype, and converted row by row; a reader without it gives the stored bytes of the whole
 * matrix (half the float32 size for bf16/f16), converted row by row the same way. The values are
 * those of `readF32(name)` gathered by token, bit for bit (the same per-element conversion).
 *
 * Memory: the result, one run of rows (≤ {@link RUN_ROWS}) and an index of the tokens sorted by value.
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND (no such tensor), SHAPE_MISMATCH (not [rows, hidden]),
 *   RECIPE_INVALID (a token outside [0, rows)), DTYPE_UNSUPPORTED (a non-float dtype).
 * @example
 * const hidden = await embedTokenRows(checkpoint, "model.embed_tokens.weight", tokens, 2048);
 */
export async function embedTokenRows(
  ckpt: Checkpoint,
  name: string,
  tokens: Int32Array,
  hidden: number,
): Promise<Float32Array> {
  if (!ckpt.has(name)) {
    throw new PruneError(
      "TENSOR_IO_NOT_FOUND",
      `${ckpt.source}: missing tensor "${name}" (the embedding of the calibration tokens). Expected a [vocab, ${hidden}] matrix, got no such tensor.`,
    );
  }
  const info = ckpt.info(name);
  if (info.shape.length !== 2 || info.shape[1] !== hidden) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${ckpt.source}: tensor "${name}" has the wrong shape. Expected [vocab, ${hidden}], got [${info.shape.join(", ")}].`,
    );
  }
  if (info.dtype !== "F32" && info.dtype !== "F16" && info.dtype !== "BF16" && info.dtype !== "F64") {
    throw new PruneError(
      "DTYPE_UNSUPPORTED",
      `${ckpt.source}: tensor "${name}" is stored as ${info.dtype}. Expected a float dtype (F32, F16, BF16, F64), got ${info.dtype}.`,
    );
  }
  const vocab = info.shape[0]!;
  const n = tokens.length;
  for (let i = 0; i < n; i++) {
    const t = tokens[i]!;
    if (!(t >= 0 && t < vocab)) {
      throw new PruneError(
        "RECIPE_INVALID",
        `${ckpt.source}: calibration token ${i} is out of the embedding's range. Expected 0 ≤ token < ${vocab}, got ${t}.`,
      );
    }
  }
  const rowBytes = hidden * dtypeByteSize(info.dtype);
  const where = `${ckpt.source}: tensor "${name}"`;
  const out = new Float32Array(n * hidden); // (tokens, hidden)
  // Token positions sorted by token: each distinct row is converted once and copied to its positions.
  const order = new Int32Array(n); // (tokens,)
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => tokens[a]! - tokens[b]! || a - b);
  const readRange = ckpt.readRawRange;
  const whole = readRange === undefined ? await ckpt.readRaw(name) : undefined; // stored bytes, (vocab · rowBytes,)
  if (whole !== undefined && whole.byteLength !== vocab * rowBytes) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${where} read ${whole.byteLength} bytes. Expected ${vocab * rowBytes} (${vocab} × ${hidden} ${info.dtype}), got ${whole.byteLength}.`,
    );
  }
  const scratch = new Float32Array(RUN_ROWS * hidden); // (RUN_ROWS, hidden) one run of rows
  let k = 0; // next position in `order`
  while (k < n) {
    // A run: distinct rows r0, r0+1, …, r1−1 that all occur (at most RUN_ROWS of them).
    const r0 = tokens[order[k]!]!;
    let r1 = r0 + 1;
    let end = k; // positions [k, end) hold the run's tokens
    while (end < n && tokens[order[end]!]! < r1) end++;
    while (end < n && r1 - r0 < RUN_ROWS && tokens[order[end]!]! === r1) {
      r1++;
      while (end < n && tokens[order[end]!]! < r1) end++;
    }
    const bytes =
      whole !== undefined
        ? whole.subarray(r0 * rowBytes, r1 * rowBytes)
        : await readRange!.call(ckpt, name, r0 * rowBytes, (r1 - r0) * rowBytes);
    if (bytes.byteLength !== (r1 - r0) * rowBytes) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${where}: rows ${r0}…${r1 - 1} read ${bytes.byteLength} bytes. Expected ${(r1 - r0) * rowBytes}, got ${bytes.byteLength}.`,
      );
    }
    const rows = bytesToF32Into(bytes, info.dtype, scratch.subarray(0, (r1 - r0) * hidden), where);
    for (; k < end; k++) {
      const p = order[k]!;
      const r = tokens[p]! - r0;
      out.set(rows.subarray(r * hidden, (r + 1) * hidden), p * hidden);
    }
  }
  return out;
}
