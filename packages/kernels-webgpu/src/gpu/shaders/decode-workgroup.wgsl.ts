// Decode (few tokens) kernels with one workgroup of 64 invocations per output element (token i,
// weight row j): the 64 lanes stride through the row together — consecutive lanes read consecutive
// weights, column indices or mask words, i.e. coalesced loads on a GPU — and a tree reduction in
// workgroup memory sums their partial dot products. This is the memory-bound decode layout for
// real GPUs; on a CPU device (SwiftShader) the one-invocation-per-row kernels are faster, because
// barriers are expensive there, so it is opt-in (`decodeKernel: "workgroup"`).
//
// Bindings are those of the row-per-invocation kernels: dense 0 x, 1 w, 2 bias, 3 y, 4 params;
// sparse 0 x, 1 bias, 2 y, 3 params, then the format's buffers from 4. Dispatch m·n workgroups,
// 2-D: element index = wid.x + wid.y · numWorkgroups.x.

import { type SparseKernelFormat, sparseBindingsWgsl } from "./sparse-matmul.wgsl.ts";

const DENSE_BINDINGS = /* wgsl */ `
struct Params { m: u32, k: u32, n: u32, hasBias: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;       // (m, k)
@group(0) @binding(1) var<storage, read> w: array<f32>;       // (n, k)
@group(0) @binding(2) var<storage, read> bias: array<f32>;    // (n,) or a dummy
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (m, n)
@group(0) @binding(4) var<uniform> p: Params;
`;

function partialSum(format: "dense" | SparseKernelFormat): string {
  switch (format) {
    case "dense":
      return /* wgsl */ `
    let wo = j * p.k;
    for (var kk = t; kk < p.k; kk = kk + 64u) { s = fma(x[xo + kk], w[wo + kk], s); }`;
    case "csr":
      return /* wgsl */ `
    let pe = rowPtr[j + 1u];
    for (var q = rowPtr[j] + t; q < pe; q = q + 64u) { s = fma(x[xo + colIdx[q]], vals[q], s); }`;
    case "sparse-24-bitmask":
      return /* wgsl */ `
    let rb = (p.k + 7u) / 8u;
    let groups = p.k / 4u;
    let words = (groups + 7u) / 8u;
    for (var wd = t; wd < words; wd = wd + 64u) {
      let bits = maskWord(j * rb + wd * 4u);
      let g0 = wd * 8u;
      let gEnd = min(groups - g0, 8u);
      var q = j * (p.k / 2u) + 2u * g0;
      for (var g = 0u; g < gEnd; g = g + 1u) {
        let nib = (bits >> (4u * g)) & 15u;
        let base = (g0 + g) * 4u;
        s = fma(x[xo + base + firstTrailingBit(nib)], vals[q], s);
        s = fma(x[xo + base + firstLeadingBit(nib)], vals[q + 1u], s);
        q = q + 2u;
      }
    }`;
    case "sparse-bitmask":
      // Each lane takes one 32-bit window of the row per round; where its values start is the
      // row offset plus the set bits of all earlier windows: an exclusive scan of the 64 windows'
      // popcounts per round (Hillis–Steele in workgroup memory), plus the running total of rounds.
      return "";
  }
}

/**
 * WGSL source of a workgroup-per-output decode kernel for dense weights or a sparse format.
 *
 * @example
 * device.createShaderModule({ code: decodeWorkgroupWgsl("csr") });
 */
export function decodeWorkgroupWgsl(format: "dense" | SparseKernelFormat): string {
  const head = format === "dense" ? DENSE_BINDINGS : sparseBindingsWgsl(format);
  const reduce = /* wgsl */ `
  part[t] = s;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    if (t < stride) { part[t] = part[t] + part[t + stride]; }
    workgroupBarrier();
  }
  if (t == 0u && valid) {
    var v = part[0];
    if (p.hasBias != 0u) { v = v + bias[j]; }
    y[idx] = v;
  }`;
  if (format === "sparse-bitmask") {
    return /* wgsl */ `${head}
var<workgroup> part: array<f32, 64>;
var<workgroup> scan: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let idx = wid.x + wid.y * nw.x;
  let valid = idx < p.m * p.n;
  let i = select(0u, idx / p.n, valid);
  let j = select(0u, idx % p.n, valid);
  let xo = i * p.k;
  let rb = (p.k + 7u) / 8u;
  let windows = (rb + 3u) / 4u;
  let rounds = (windows + 63u) / 64u;
  var s = 0.0;
  var base = rowOffsets[j];
  for (var r = 0u; r < rounds; r = r + 1u) {
    let wi = r * 64u + t;
    var bits = 0u;
    if (valid && wi < windows) {
      let b = wi * 4u;
      bits = maskWord(j * rb + b);
      let left = rb - b;
      if (left < 4u) { bits = bits & ((1u << (left * 8u)) - 1u); }
    }
    let c = countOneBits(bits);
    scan[t] = c;
    workgroupBarrier();
    for (var off = 1u; off < 64u; off = off << 1u) {
      var add = 0u;
      if (t >= off) { add = scan[t - off]; }
      workgroupBarrier();
      scan[t] = scan[t] + add;
      workgroupBarrier();
    }
    var q = base + scan[t] - c; // exclusive prefix
    let total = scan[63];
    workgroupBarrier();
    while (bits != 0u) {
      let col = wi * 32u + firstTrailingBit(bits);
      s = fma(x[xo + col], vals[q], s);
      q = q + 1u;
      bits = bits & (bits - 1u);
    }
    base = base + total;
  }
${reduce}
}
`;
  }
  return /* wgsl */ `${head}
var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let idx = wid.x + wid.y * nw.x;
  let valid = idx < p.m * p.n;
  let i = select(0u, idx / p.n, valid);
  let j = select(0u, idx % p.n, valid);
  let xo = i * p.k;
  var s = 0.0;
  if (valid) {${partialSum(format)}
  }
${reduce}
}
`;
}
