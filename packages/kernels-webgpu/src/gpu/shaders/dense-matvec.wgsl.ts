// Dense y = x · wᵀ (+ bias) for few tokens (decode): one invocation per output element, a dot
// product over k with four independent accumulators. Memory-bound: each weight row is read once per
// token, which for one token is the minimum possible traffic (no tiling can help).

/**
 * WGSL source of the dense matrix × vector kernel. Bindings: 0 x (m, k), 1 w (n, k), 2 bias,
 * 3 y (m, n), 4 params {m, k, n, hasBias}. Workgroups of 64, dispatched 2-D (x, y) so that more
 * than 65535 workgroups fit: flat index = gid.x + gid.y · 64 · numWorkgroups.x.
 *
 * @example
 * device.createShaderModule({ code: DENSE_MATVEC_WGSL });
 */
export const DENSE_MATVEC_WGSL: string = /* wgsl */ `
struct Params { m: u32, k: u32, n: u32, hasBias: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;       // (m, k)
@group(0) @binding(1) var<storage, read> w: array<f32>;       // (n, k)
@group(0) @binding(2) var<storage, read> bias: array<f32>;    // (n,) or a dummy
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (m, n)
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let idx = gid.x + gid.y * nw.x * 64u;
  if (idx >= p.m * p.n) { return; }
  let i = idx / p.n;
  let j = idx % p.n;
  let xo = i * p.k;
  let wo = j * p.k;
  var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
  var kk = 0u;
  for (; kk + 4u <= p.k; kk = kk + 4u) {
    s0 = fma(x[xo + kk], w[wo + kk], s0);
    s1 = fma(x[xo + kk + 1u], w[wo + kk + 1u], s1);
    s2 = fma(x[xo + kk + 2u], w[wo + kk + 2u], s2);
    s3 = fma(x[xo + kk + 3u], w[wo + kk + 3u], s3);
  }
  for (; kk < p.k; kk = kk + 1u) { s0 = fma(x[xo + kk], w[wo + kk], s0); }
  var v = (s0 + s1) + (s2 + s3);
  if (p.hasBias != 0u) { v = v + bias[j]; }
  y[idx] = v;
}
`;
