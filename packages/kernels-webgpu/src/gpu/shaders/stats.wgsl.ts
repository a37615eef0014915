// Calibration statistics: the Gram matrix G = aᵀ·b (XᵀX when a = b = X) and column square-norms.
//
// Gram: a (m, ka), b (m, kb) row-major; G (ka, kb). Same tiling as the dense matmul (WG×WG
// invocations, (4·WG)² output tile, 4×4 register block) but the contraction runs over the token axis
// m, which is the slow axis of both operands, so a slab of 16 token rows is staged through
// workgroup memory with contiguous (coalesced) loads along the feature axis. Accumulation is f32
// within one call; the backend adds each call's result into the caller's float64 accumulator.

/** Token rows per workgroup slab of the Gram kernel. */
export const GRAM_TK: number = 16;

/**
 * WGSL source of the Gram kernel G = aᵀ·b. Bindings: 0 a (m, ka), 1 b (m, kb), 2 G (ka, kb),
 * 3 params {m, ka, kb, upper}. Dispatch (ceil(kb / 4wg), ceil(ka / 4wg)). With upper ≠ 0 (for a = b)
 * only tiles on or above the diagonal are written (half the work); the others are left unwritten.
 *
 * @example
 * device.createShaderModule({ code: gramWgsl(16) });
 */
export function gramWgsl(wg: 8 | 16): string {
  const bm = 4 * wg;
  return /* wgsl */ `
struct Params { m: u32, ka: u32, kb: u32, upper: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;       // (m, ka)
@group(0) @binding(1) var<storage, read> b: array<f32>;       // (m, kb)
@group(0) @binding(2) var<storage, read_write> g: array<f32>; // (ka, kb)
@group(0) @binding(3) var<uniform> p: Params;

const WG: u32 = ${wg}u;
const BM: u32 = ${bm}u;
const TK: u32 = ${GRAM_TK}u;
var<workgroup> sa: array<f32, ${bm * GRAM_TK}>; // (TK, BM)
var<workgroup> sb: array<f32, ${bm * GRAM_TK}>;  // (TK, BM)

@compute @workgroup_size(${wg}, ${wg})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  // upper != 0 (a = b, G symmetric): tiles strictly below the diagonal are skipped; the caller
  // mirrors them. Uniform per workgroup, so the barriers below stay in uniform control flow.
  if (p.upper != 0u && wid.x < wid.y) { return; }
  let row0 = wid.y * BM;
  let col0 = wid.x * BM;
  let tid = lid.y * WG + lid.x;
  var a0 = vec4f(0.0); var a1 = vec4f(0.0); var a2 = vec4f(0.0); var a3 = vec4f(0.0);
  for (var i0 = 0u; i0 < p.m; i0 = i0 + TK) {
    for (var e = tid; e < BM * TK; e = e + WG * WG) {
      let t = e / BM;
      let c = e % BM;
      let gi = i0 + t;
      var av = 0.0;
      if (gi < p.m && row0 + c < p.ka) { av = a[gi * p.ka + row0 + c]; }
      sa[e] = av;
      var bv = 0.0;
      if (gi < p.m && col0 + c < p.kb) { bv = b[gi * p.kb + col0 + c]; }
      sb[e] = bv;
    }
    workgroupBarrier();
    for (var t = 0u; t < TK; t = t + 1u) {
      let ao = t * BM + lid.y * 4u;
      let bo = t * BM + lid.x * 4u;
      let bb = vec4f(sb[bo], sb[bo + 1u], sb[bo + 2u], sb[bo + 3u]);
      a0 = fma(vec4f(sa[ao]), bb, a0);
      a1 = fma(vec4f(sa[ao + 1u]), bb, a1);
      a2 = fma(vec4f(sa[ao + 2u]), bb, a2);
      a3 = fma(vec4f(sa[ao + 3u]), bb, a3);
    }
    workgroupBarrier();
  }
  let r0 = row0 + lid.y * 4u;
  let c0 = col0 + lid.x * 4u;
  var acc = array<vec4f, 4>(a0, a1, a2, a3);
  for (var i = 0u; i < 4u; i = i + 1u) {
    let r = r0 + i;
    if (r >= p.ka) { break; }
    for (var j = 0u; j < 4u; j = j + 1u) {
      let c = c0 + j;
      if (c >= p.kb) { break; }
      g[r * p.kb + c] = acc[i][j];
    }
  }
}
`;
}

/**
 * WGSL source of the column square-norm kernel: s[j] = Σ_i x[i, j]² for x (m, k). One invocation
 * per column; consecutive invocations read consecutive floats of each row. Bindings: 0 x, 1 s (k),
 * 2 params {m, k, _, _}. Workgroups of 64, 2-D dispatch like the sparse kernels.
 *
 * @example
 * device.createShaderModule({ code: COL_SQ_NORM_WGSL });
 */
export const COL_SQ_NORM_WGSL: string = /* wgsl */ `
struct Params { m: u32, k: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;       // (m, k)
@group(0) @binding(1) var<storage, read_write> s: array<f32>; // (k,)
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let j = gid.x + gid.y * nw.x * 64u;
  if (j >= p.k) { return; }
  var s0 = 0.0; var s1 = 0.0;
  var i = 0u;
  for (; i + 2u <= p.m; i = i + 2u) {
    let v0 = x[i * p.k + j];
    let v1 = x[(i + 1u) * p.k + j];
    s0 = fma(v0, v0, s0);
    s1 = fma(v1, v1, s1);
  }
  if (i < p.m) { let v = x[i * p.k + j]; s0 = fma(v, v, s0); }
  s[j] = s0 + s1;
}
`;
