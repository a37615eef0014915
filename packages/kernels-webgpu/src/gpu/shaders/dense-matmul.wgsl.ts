// Dense y = x · wᵀ (+ bias): x (m, k), w (n, k) in the Linear layout, y (m, n), all f32 row-major.
//
// Tiled: each workgroup of WG×WG invocations owns a (4·WG) × (4·WG) tile of y; K is walked in slabs
// of 16 staged through workgroup memory (x slab and w slab, k-major, as vec4s so that one load gives
// an invocation its 4 rows or 4 columns at one k), and each invocation keeps a 4×4 register block
// of y (vec4 rows): 2 workgroup loads per 16 FMAs. (Scalar slabs, 8 loads per 16 FMAs, measured
// the same on SwiftShader; the vec4 form needs fewer shared-memory instructions on a GPU.) Rows and columns outside (m, n) and k beyond k load as zeros, so any
// ragged shape works. WG = 16 (8 KiB workgroup memory, 256 invocations) by default; WG = 8 (4 KiB,
// 64 invocations) for adapters with smaller limits.

/** Parameters of {@link denseMatmulWgsl}. */
export interface DenseMatmulShaderOptions {
  /** Workgroup side: 8 or 16 (tile 32 or 64). */
  readonly wg: 8 | 16;
  /** Element type of the weight buffer: "f32", or "f16" (needs the shader-f16 feature). */
  readonly weightType?: "f32" | "f16";
}

/**
 * Workgroup storage bytes the dense matmul uses for a given workgroup side (two slabs of 4·wg × 16 floats).
 *
 * @example
 * denseMatmulWorkgroupBytes(16); // 8192
 */
export function denseMatmulWorkgroupBytes(wg: 8 | 16): number {
  return 2 * 4 * wg * DENSE_TK * 4;
}

/** K slab depth of the tiled dense matmul. */
export const DENSE_TK: number = 16;

/**
 * WGSL source of the tiled dense matmul. Bindings: 0 x, 1 w, 2 bias, 3 y, 4 params {m, k, n, hasBias}.
 *
 * @example
 * device.createShaderModule({ code: denseMatmulWgsl({ wg: 16 }) });
 */
export function denseMatmulWgsl(options: DenseMatmulShaderOptions): string {
  const wg = options.wg;
  const f16 = options.weightType === "f16";
  const wElem = f16 ? "f16" : "f32";
  return /* wgsl */ `${f16 ? "enable f16;\n" : ""}
struct Params { m: u32, k: u32, n: u32, hasBias: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;       // (m, k)
@group(0) @binding(1) var<storage, read> w: array<${wElem}>;  // (n, k)
@group(0) @binding(2) var<storage, read> bias: array<f32>;    // (n,) or a dummy
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (m, n)
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = ${wg}u;
const BM: u32 = ${4 * wg}u;
const TK: u32 = ${DENSE_TK}u;
// k-major slabs stored as vec4s: one load gives an invocation its 4 rows (or 4 columns) at one k.
var<workgroup> xs: array<vec4f, ${wg * DENSE_TK}>; // (TK, BM / 4)
var<workgroup> ws: array<vec4f, ${wg * DENSE_TK}>; // (TK, BM / 4)

@compute @workgroup_size(${wg}, ${wg})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let row0 = wid.y * BM;
  let col0 = wid.x * BM;
  let tid = lid.y * WG + lid.x;
  var a0 = vec4f(0.0); var a1 = vec4f(0.0); var a2 = vec4f(0.0); var a3 = vec4f(0.0);
  for (var k0 = 0u; k0 < p.k; k0 = k0 + TK) {
    for (var e = tid; e < BM * TK; e = e + WG * WG) {
      let r = e / TK;
      let kk = e % TK;
      let gk = k0 + kk;
      var xv = 0.0;
      let gr = row0 + r;
      if (gr < p.m && gk < p.k) { xv = x[gr * p.k + gk]; }
      xs[(kk * BM + r) / 4u][r % 4u] = xv;
      var wv = 0.0;
      let gc = col0 + r;
      if (gc < p.n && gk < p.k) { wv = f32(w[gc * p.k + gk]); }
      ws[(kk * BM + r) / 4u][r % 4u] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk = kk + 1u) {
      let a = xs[kk * WG + lid.y];
      let b = ws[kk * WG + lid.x];
      a0 = fma(vec4f(a.x), b, a0);
      a1 = fma(vec4f(a.y), b, a1);
      a2 = fma(vec4f(a.z), b, a2);
      a3 = fma(vec4f(a.w), b, a3);
    }
    workgroupBarrier();
  }
  let r0 = row0 + lid.y * 4u;
  let c0 = col0 + lid.x * 4u;
  var acc = array<vec4f, 4>(a0, a1, a2, a3);
  for (var i = 0u; i < 4u; i = i + 1u) {
    let r = r0 + i;
    if (r >= p.m) { break; }
    for (var j = 0u; j < 4u; j = j + 1u) {
      let c = c0 + j;
      if (c >= p.n) { break; }
      var v = acc[i][j];
      if (p.hasBias != 0u) { v = v + bias[c]; }
      y[r * p.n + c] = v;
    }
  }
}
`;
}

/** The default dense matmul (16×16 workgroups, 64×64 tiles, f32). */
export const DENSE_MATMUL_WGSL: string = denseMatmulWgsl({ wg: 16 });
