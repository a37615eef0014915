import { type ComputeBackend, checkMatmulShapes, type MatmulOptions } from "@mama-prune/core";

// Cache blocking of the matmul: K in blocks of 256 (one 4-row strip of x and of w, 2 × 4 KiB, stays
// in L1), N in blocks of 64 (64 rows of w × 256 floats = 64 KiB, stays in L2 while all rows of x pass).
const K_BLOCK = 256;
const N_BLOCK = 64;

/**
 * y[m, n] = x[m, k] · w[n, k]ᵀ (+ bias), plain JavaScript. The inner kernel keeps a 4×4 tile of y in
 * 16 locals and walks k over 4 rows of x and 4 rows of w (8 loads per 16 multiply-adds): in V8 every
 * Float32Array access is a float32↔float64 conversion, so register tiling is what makes JS fast
 * (perf-anchors §1a: ~2–3 GFLOP/s vs 0.6 for the naive dot loop). Partial sums are float64 within a
 * K block and rounded to float32 between K blocks.
 */
function matmulTransBInto(
  x: Float32Array,
  w: Float32Array,
  y: Float32Array,
  m: number,
  k: number,
  n: number,
  bias: Float32Array | undefined,
): void {
  if (bias) {
    for (let i = 0; i < m; i++) y.set(bias, i * n);
  } else {
    y.fill(0, 0, m * n);
  }
  for (let kb = 0; kb < k; kb += K_BLOCK) {
    const ke = Math.min(k, kb + K_BLOCK);
    for (let jb = 0; jb < n; jb += N_BLOCK) {
      const je = Math.min(n, jb + N_BLOCK);
      let i = 0;
      for (; i + 4 <= m; i += 4) {
        const x0 = i * k;
        const x1 = x0 + k;
        const x2 = x1 + k;
        const x3 = x2 + k;
        const y0 = i * n;
        const y1 = y0 + n;
        const y2 = y1 + n;
        const y3 = y2 + n;
        let j = jb;
        for (; j + 4 <= je; j += 4) {
          const w0 = j * k;
          const w1 = w0 + k;
          const w2 = w1 + k;
          const w3 = w2 + k;
          let c00 = 0;
          let c01 = 0;
          let c02 = 0;
          let c03 = 0;
          let c10 = 0;
          let c11 = 0;
          let c12 = 0;
          let c13 = 0;
          let c20 = 0;
          let c21 = 0;
          let c22 = 0;
          let c23 = 0;
          let c30 = 0;
          let c31 = 0;
          let c32 = 0;
          let c33 = 0;
          for (let p = kb; p < ke; p++) {
            const a0 = x[x0 + p]!;
            const a1 = x[x1 + p]!;
            const a2 = x[x2 + p]!;
            const a3 = x[x3 + p]!;
            const b0 = w[w0 + p]!;
            const b1 = w[w1 + p]!;
            const b2 = w[w2 + p]!;
            const b3 = w[w3 + p]!;
            c00 += a0 * b0;
            c01 += a0 * b1;
            c02 += a0 * b2;
            c03 += a0 * b3;
            c10 += a1 * b0;
            c11 += a1 * b1;
            c12 += a1 * b2;
            c13 += a1 * b3;
            c20 += a2 * b0;
            c21 += a2 * b1;
            c22 += a2 * b2;
            c23 += a2 * b3;
            c30 += a3 * b0;
            c31 += a3 * b1;
            c32 += a3 * b2;
            c33 += a3 * b3;
          }
          y[y0 + j] = y[y0 + j]! + c00;
          y[y0 + j + 1] = y[y0 + j + 1]! + c01;
          y[y0 + j + 2] = y[y0 + j + 2]! + c02;
          y[y0 + j + 3] = y[y0 + j + 3]! + c03;
          y[y1 + j] = y[y1 + j]! + c10;
          y[y1 + j + 1] = y[y1 + j + 1]! + c11;
          y[y1 + j + 2] = y[y1 + j + 2]! + c12;
          y[y1 + j + 3] = y[y1 + j + 3]! + c13;
          y[y2 + j] = y[y2 + j]! + c20;
          y[y2 + j + 1] = y[y2 + j + 1]! + c21;
          y[y2 + j + 2] = y[y2 + j + 2]! + c22;
          y[y2 + j + 3] = y[y2 + j + 3]! + c23;
          y[y3 + j] = y[y3 + j]! + c30;
          y[y3 + j + 1] = y[y3 + j + 1]! + c31;
          y[y3 + j + 2] = y[y3 + j + 2]! + c32;
          y[y3 + j + 3] = y[y3 + j + 3]! + c33;
        }
        // Ragged n: a 4×1 tile per remaining column.
        for (; j < je; j++) {
          const wj = j * k;
          let c0 = 0;
          let c1 = 0;
          let c2 = 0;
          let c3 = 0;
          for (let p = kb; p < ke; p++) {
            const b = w[wj + p]!;
            c0 += x[x0 + p]! * b;
            c1 += x[x1 + p]! * b;
            c2 += x[x2 + p]! * b;
            c3 += x[x3 + p]! * b;
          }
          y[y0 + j] = y[y0 + j]! + c0;
          y[y1 + j] = y[y1 + j]! + c1;
          y[y2 + j] = y[y2 + j]! + c2;
          y[y3 + j] = y[y3 + j]! + c3;
        }
      }
      // Ragged m: one row at a time, a 1×4 tile then single dots.
      for (; i < m; i++) {
        const xi = i * k;
        const yi = i * n;
        let j = jb;
        for (; j + 4 <= je; j += 4) {
          const w0 = j * k;
          const w1 = w0 + k;
          const w2 = w1 + k;
          const w3 = w2 + k;
          let c0 = 0;
          let c1 = 0;
          let c2 = 0;
          let c3 = 0;
          for (let p = kb; p < ke; p++) {
            const a = x[xi + p]!;
            c0 += a * w[w0 + p]!;
            c1 += a * w[w1 + p]!;
            c2 += a * w[w2 + p]!;
            c3 += a * w[w3 + p]!;
          }
          y[yi + j] = y[yi + j]! + c0;
          y[yi + j + 1] = y[yi + j + 1]! + c1;
          y[yi + j + 2] = y[yi + j + 2]! + c2;
          y[yi + j + 3] = y[yi + j + 3]! + c3;
        }
        for (; j < je; j++) {
          const wj = j * k;
          let c = 0;
          for (let p = kb; p < ke; p++) c += x[xi + p]! * w[wj + p]!;
          y[yi + j] = y[yi + j]! + c;
        }
      }
    }
  }
}

/**
 * acc[k, k] += xᵀx in float64. xᵀx is symmetric, so only its upper triangle (a ≤ b) is computed,
 * into a scratch buffer, and then added to both acc[a, b] and acc[b, a]: half the multiply-adds, and
 * an `acc` that was not symmetric still becomes exactly `acc + xᵀx` (the same sum goes to both
 * halves). Rows are taken four at a time so each scratch element is loaded and stored once per four
 * rows. Fewer than 16 rows skip the scratch buffer (its k² cost would dominate).
 */
function gramInto(x: Float32Array, m: number, k: number, acc: Float64Array): void {
  const r0 = new Float64Array(k); // (k,)
  const r1 = new Float64Array(k); // (k,)
  const r2 = new Float64Array(k); // (k,)
  const r3 = new Float64Array(k); // (k,)
  const symmetric = m >= 16;
  const tri = symmetric ? new Float64Array(k * k) : acc; // (k, k), upper triangle used when symmetric
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    for (let p = 0; p < k; p++) {
      r0[p] = x[i * k + p]!;
      r1[p] = x[(i + 1) * k + p]!;
      r2[p] = x[(i + 2) * k + p]!;
      r3[p] = x[(i + 3) * k + p]!;
    }
    for (let a = 0; a < k; a++) {
      const a0 = r0[a]!;
      const a1 = r1[a]!;
      const a2 = r2[a]!;
      const a3 = r3[a]!;
      if (a0 === 0 && a1 === 0 && a2 === 0 && a3 === 0) continue;
      const row = a * k;
      for (let b = symmetric ? a : 0; b < k; b++) {
        tri[row + b] = tri[row + b]! + (a0 * r0[b]! + a1 * r1[b]! + a2 * r2[b]! + a3 * r3[b]!);
      }
    }
  }
  for (; i < m; i++) {
    for (let p = 0; p < k; p++) r0[p] = x[i * k + p]!;
    for (let a = 0; a < k; a++) {
      const a0 = r0[a]!;
      if (a0 === 0) continue;
      const row = a * k;
      for (let b = symmetric ? a : 0; b < k; b++) tri[row + b] = tri[row + b]! + a0 * r0[b]!;
    }
  }
  if (!symmetric) return;
  for (let a = 0; a < k; a++) {
    acc[a * k + a] = acc[a * k + a]! + tri[a * k + a]!;
    for (let b = a + 1; b < k; b++) {
      const v = tri[a * k + b]!;
      acc[a * k + b] = acc[a * k + b]! + v;
      acc[b * k + a] = acc[b * k + a]! + v;
    }
  }
}

function checkAccumulate(
  where: string,
  x: Float32Array,
  m: number,
  k: number,
  acc: Float64Array,
  accLength: number,
): void {
  if (!Number.isInteger(m) || m < 0)
    throw new RangeError(`${where}: m must be a non-negative integer, got ${m}`);
  if (!Number.isInteger(k) || k < 0)
    throw new RangeError(`${where}: k must be a non-negative integer, got ${k}`);
  if (x.length !== m * k)
    throw new RangeError(`${where}: x has ${x.length} elements, expected m·k = ${m * k}`);
  if (acc.length !== accLength) {
    throw new RangeError(`${where}: acc has ${acc.length} elements, expected ${accLength}`);
  }
}

/**
 * The plain JavaScript {@link ComputeBackend} ("js"): single-threaded, register-tiled matmul
 * (4×4 output tile, K blocked by 256, N by 64), float64 Gram (upper triangle, mirrored) and column-norm accumulation. It is the
 * reference every faster backend is tested against, and it runs anywhere (Node, Deno, browsers).
 *
 * @throws RangeError (from each method) when an operand's length does not match the given shape.
 * @example
 * const be = createCpuBackend();
 * const y = await be.matmulTransB(new Float32Array([1, 2]), new Float32Array([3, 4, 5, 6]), 1, 2, 2);
 * y; // Float32Array [11, 17]
 */
export function createCpuBackend(): ComputeBackend {
  return {
    name: "js",
    async matmulTransB(
      x: Float32Array,
      w: Float32Array,
      m: number,
      k: number,
      n: number,
      options?: MatmulOptions,
    ): Promise<Float32Array> {
      checkMatmulShapes("cpu.matmulTransB", x, w, m, k, n, options);
      const y = options?.out ?? new Float32Array(m * n); // (m, n)
      matmulTransBInto(x, w, y, m, k, n, options?.bias);
      return y;
    },
    async gramAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
      checkAccumulate("cpu.gramAccumulate", x, m, k, acc, k * k);
      gramInto(x, m, k, acc);
    },
    async colSqNormAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
      checkAccumulate("cpu.colSqNormAccumulate", x, m, k, acc, k);
      for (let i = 0; i < m; i++) {
        const row = i * k;
        for (let j = 0; j < k; j++) {
          const v = x[row + j]!;
          acc[j] = acc[j]! + v * v;
        }
      }
    },
    invalidate(_weight: Float32Array): void {
      // Nothing cached: every call reads the weight array as it is.
    },
    async dispose(): Promise<void> {},
  };
}
