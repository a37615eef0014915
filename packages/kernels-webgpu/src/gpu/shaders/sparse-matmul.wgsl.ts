// Sparse W × dense x for pruned weights: y = x · Wᵀ (+ bias), x (m, k) f32, W (n, k) sparse, y (m, n).
//
// One invocation per (output row j, block of TM tokens): it walks row j's non-zeros once and
// multiplies each by TM rows of x (TM = 4, 8 or 16 for prefill/calibration, in vec4s of tokens;
// TM = 1 for decode, a matrix × vector), so every index/mask load is reused TM times. Consecutive invocations
// take consecutive rows j for the same tokens, so the x rows they gather from stay in cache.
// Token rows past m are clamped to m − 1 (valid memory) and never stored.
//
// Formats (all "as stored", no repacking):
//   csr                rowPtr u32 (n+1), colIdx u32 (nnz), values f32 (nnz)
//   sparse-bitmask     values f32 (nnz, row-major), mask = the packed bitmask bytes (n, ceil(k/8)) read as
//                      u32 words (little-endian, padded with one zero word), rowOffsets u32 (n)
//                      — exactly tensor-io's encodeSparseBitmask / compressed-tensors layout
//   sparse-24-bitmask  values f32 (n, k/2), mask as above with exactly two bits per group of four
//                      — tensor-io's encodeSparse24 / compressed-tensors sparse-24-bitmask
// A bitmask row starts at byte j·ceil(k/8), which need not be word-aligned: maskWord() assembles the
// 32 bits starting at any byte from two words.

/** Storage formats the sparse kernels read. */
export type SparseKernelFormat = "csr" | "sparse-bitmask" | "sparse-24-bitmask";

/** Parameters of {@link sparseMatmulWgsl}. */
export interface SparseMatmulShaderOptions {
  readonly format: SparseKernelFormat;
  /** Tokens per invocation: 1 (decode), 4, 8 or 16 (prefill / calibration). */
  readonly tm: 1 | 4 | 8 | 16;
}

const HEADER = /* wgsl */ `
struct Params { m: u32, k: u32, n: u32, hasBias: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;       // (m, k)
@group(0) @binding(1) var<storage, read> bias: array<f32>;    // (n,) or a dummy
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // (m, n)
@group(0) @binding(3) var<uniform> p: Params;
`;

const MASK_WORD = /* wgsl */ `
fn maskWord(byteIdx: u32) -> u32 {
  let wi = byteIdx >> 2u;
  let sh = (byteIdx & 3u) * 8u;
  var v = mask[wi] >> sh;
  if (sh != 0u) { v = v | (mask[wi + 1u] << (32u - sh)); }
  return v;
}
`;

/**
 * The shared header (x, bias, y, params at bindings 0–3) and a format's buffers (from binding 4)
 * of the sparse kernels, for kernels that share their binding layout.
 *
 * @example
 * sparseBindingsWgsl("csr"); // "struct Params … var<storage, read> rowPtr …"
 */
export function sparseBindingsWgsl(format: SparseKernelFormat): string {
  return HEADER + bindings(format);
}

function bindings(format: SparseKernelFormat): string {
  switch (format) {
    case "csr":
      return /* wgsl */ `
@group(0) @binding(4) var<storage, read> rowPtr: array<u32>; // (n + 1,)
@group(0) @binding(5) var<storage, read> colIdx: array<u32>; // (nnz,)
@group(0) @binding(6) var<storage, read> vals: array<f32>;   // (nnz,)
`;
    case "sparse-bitmask":
      return /* wgsl */ `
@group(0) @binding(4) var<storage, read> vals: array<f32>;       // (nnz,)
@group(0) @binding(5) var<storage, read> mask: array<u32>;       // (n · ceil(k/8) bytes + padding)
@group(0) @binding(6) var<storage, read> rowOffsets: array<u32>; // (n,)
${MASK_WORD}`;
    case "sparse-24-bitmask":
      return /* wgsl */ `
@group(0) @binding(4) var<storage, read> vals: array<f32>; // (n, k/2)
@group(0) @binding(5) var<storage, read> mask: array<u32>; // (n · ceil(k/8) bytes + padding)
${MASK_WORD}`;
  }
}

function body(format: SparseKernelFormat, update: (col: string, val: string) => string): string {
  switch (format) {
    case "csr":
      return /* wgsl */ `
  let pe = rowPtr[j + 1u];
  for (var q = rowPtr[j]; q < pe; q = q + 1u) {
    ${update("colIdx[q]", "vals[q]")}
  }`;
    case "sparse-bitmask":
      return /* wgsl */ `
  let rb = (p.k + 7u) / 8u;
  let rowByte = j * rb;
  var q = rowOffsets[j];
  for (var b = 0u; b < rb; b = b + 4u) {
    var bits = maskWord(rowByte + b);
    let left = rb - b;
    if (left < 4u) { bits = bits & ((1u << (left * 8u)) - 1u); }
    while (bits != 0u) {
      let col = b * 8u + firstTrailingBit(bits);
      ${update("col", "vals[q]")}
      q = q + 1u;
      bits = bits & (bits - 1u);
    }
  }`;
    case "sparse-24-bitmask":
      return /* wgsl */ `
  let rb = (p.k + 7u) / 8u;
  let rowByte = j * rb;
  let groups = p.k / 4u;
  var q = j * (p.k / 2u);
  for (var g0 = 0u; g0 < groups; g0 = g0 + 8u) {
    let bits = maskWord(rowByte + g0 / 2u);
    let gEnd = min(groups - g0, 8u);
    for (var g = 0u; g < gEnd; g = g + 1u) {
      let nib = (bits >> (4u * g)) & 15u;
      let base = (g0 + g) * 4u;
      let c0 = base + firstTrailingBit(nib);
      let c1 = base + firstTrailingBit(nib & (nib - 1u));
      ${update("c0", "vals[q]")}
      ${update("c1", "vals[q + 1u]")}
      q = q + 2u;
    }
  }`;
  }
}

/**
 * WGSL source of a sparse × dense kernel. Bindings: 0 x, 1 bias, 2 y, 3 params {m, k, n, hasBias},
 * then the format's buffers from 4 (see the file header). Workgroups of 64, dispatched 2-D:
 * flat index = gid.x + gid.y · 64 · numWorkgroups.x over n · ceil(m / tm) invocations.
 *
 * @example
 * device.createShaderModule({ code: sparseMatmulWgsl({ format: "sparse-bitmask", tm: 4 }) });
 */
export function sparseMatmulWgsl(options: SparseMatmulShaderOptions): string {
  const { format, tm } = options;
  const quads = tm === 1 ? 0 : tm / 4; // vec4 accumulators acc0 … (4 tokens each)
  const quad = (from: number, c: string): string =>
    `vec4f(x[r${from} + ${c}], x[r${from + 1} + ${c}], x[r${from + 2} + ${c}], x[r${from + 3} + ${c}])`;
  const update = (c: string, v: string): string =>
    tm === 1
      ? `acc = fma(x[r0 + ${c}], ${v}, acc);`
      : `{ let cc = ${c}; let vv = vec4f(${v}); ${Array.from({ length: quads }, (_, a) => `acc${a} = fma(${quad(4 * a, "cc")}, vv, acc${a});`).join(" ")} }`;
  const rowLets = Array.from({ length: tm }, (_, t) =>
    t === 0 ? "  let r0 = i0 * p.k;" : `  let r${t} = min(i0 + ${t}u, last) * p.k;`,
  ).join("\n");
  const accs =
    tm === 1
      ? "  var acc = 0.0;"
      : Array.from({ length: quads }, (_, a) => `  var acc${a} = vec4f(0.0);`).join("\n");
  const store =
    tm === 1
      ? "  y[i0 * p.n + j] = acc + bv;"
      : `  for (var t = 0u; t < 4u; t = t + 1u) {\n${Array.from(
          { length: quads },
          (_, a) =>
            `    if (i0 + ${4 * a}u + t < p.m) { y[(i0 + ${4 * a}u + t) * p.n + j] = acc${a}[t] + bv; }`,
        ).join("\n")}\n  }`;
  return /* wgsl */ `${HEADER}${bindings(format)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let idx = gid.x + gid.y * nw.x * 64u;
  let j = idx % p.n;
  let i0 = (idx / p.n) * ${tm}u;
  if (i0 >= p.m) { return; }
  let last = p.m - 1u;
${rowLets}
${accs}
${body(format, update)}
  var bv = 0.0;
  if (p.hasBias != 0u) { bv = bias[j]; }
${store}
}
`;
}

/** CSR kernel, 4 tokens per invocation. */
export const SPARSE_CSR_WGSL: string = sparseMatmulWgsl({ format: "csr", tm: 4 });
/** sparse-bitmask kernel, 4 tokens per invocation. */
export const SPARSE_BITMASK_WGSL: string = sparseMatmulWgsl({ format: "sparse-bitmask", tm: 4 });
/** sparse-24-bitmask kernel, 4 tokens per invocation. */
export const SPARSE_24_WGSL: string = sparseMatmulWgsl({ format: "sparse-24-bitmask", tm: 4 });
