// Calibration statistics on the GPU: the Gram matrix xᵀx (symmetric blocks, mirrored on the CPU in
// float64) and the squared column norms, both tiled so every binding fits.

import { checkDims, PruneError } from "@mama-prune/core";
import { type BackendEnv, limitError } from "./backend-config.ts";
import { denseMatmulWorkgroupBytes } from "./gpu/shaders/dense-matmul.wgsl.ts";
import { COL_SQ_NORM_WGSL, gramWgsl } from "./gpu/shaders/stats.wgsl.ts";

/**
 * acc[k, k] += xᵀx for checked, non-empty x [m, k] (float64 accumulation of float32 blocks).
 *
 * @throws PruneError GPU_LIMIT_EXCEEDED when the device cannot run the tiled kernel.
 * @example
 * await gpuGramAccumulate(env, "webgpu.gramAccumulate", x, m, k, acc);
 */
export async function gpuGramAccumulate(
  env: BackendEnv,
  where: string,
  x: Float32Array,
  m: number,
  k: number,
  acc: Float64Array,
): Promise<void> {
  const { ctx, L, wg, maxTileRows } = env;
  if (wg === undefined) {
    throw new PruneError(
      "GPU_LIMIT_EXCEEDED",
      `${where}: the Gram kernel needs 64 invocations and ${denseMatmulWorkgroupBytes(8)} bytes of workgroup memory. Expected at least that, got ${ctx.limits.maxComputeInvocationsPerWorkgroup} and ${ctx.limits.maxComputeWorkgroupStorageSize}.`,
    );
  }
  // Column blocks of cb features so a (cb, cb) block of G and (rows, cb) slices of x fit the limit.
  const cb = Math.max(1, Math.min(k, maxTileRows, Math.floor(Math.sqrt(L / 4))));
  const rows = Math.max(1, Math.min(m, Math.floor(L / (4 * cb))));
  const pipeline = await ctx.pipeline(`gram-${wg}`, gramWgsl(wg));
  const tile = 4 * wg;
  for (let i0 = 0; i0 < m; i0 += rows) {
    const mc = Math.min(m, i0 + rows) - i0;
    const xs = x.subarray(i0 * k, (i0 + mc) * k); // (mc, k)
    const slices = new Map<number, GPUBuffer>();
    const slice = (a0: number, a1: number): GPUBuffer => {
      let b = slices.get(a0);
      if (b === undefined) {
        if (a0 === 0 && a1 === k) b = ctx.upload(xs, "x");
        else {
          const s = new Float32Array(mc * (a1 - a0)); // (mc, a1 − a0)
          for (let i = 0; i < mc; i++) s.set(xs.subarray(i * k + a0, i * k + a1), i * (a1 - a0));
          b = ctx.upload(s, "x-slice");
        }
        slices.set(a0, b);
      }
      return b;
    };
    try {
      // G is symmetric: only block pairs b0 ≥ a0 are computed, and within a diagonal block only
      // the tiles on or above the diagonal; the rest is mirrored here.
      for (let a0 = 0; a0 < k; a0 += cb) {
        const a1 = Math.min(k, a0 + cb);
        for (let b0 = a0; b0 < k; b0 += cb) {
          const b1 = Math.min(k, b0 + cb);
          const ka = a1 - a0;
          const kb = b1 - b0;
          const diagonal = a0 === b0;
          const gBuf = ctx.output(4 * ka * kb, "gram");
          const params = ctx.params(mc, ka, kb, diagonal ? 1 : 0);
          try {
            const gx = Math.ceil(kb / tile);
            const gy = Math.ceil(ka / tile);
            const gpart = await ctx.run(
              where,
              [{ pipeline, buffers: [slice(a0, a1), slice(b0, b1), gBuf, params], workgroups: [gx, gy] }],
              gBuf,
              4 * ka * kb,
            ); // (ka, kb)
            if (diagonal) {
              for (let a = 0; a < ka; a++) {
                const row = (a0 + a) * k + b0;
                const ta = Math.floor(a / tile);
                for (let b = 0; b < kb; b++) {
                  const v = Math.floor(b / tile) < ta ? gpart[b * kb + a]! : gpart[a * kb + b]!;
                  acc[row + b] = acc[row + b]! + v;
                }
              }
            } else {
              for (let a = 0; a < ka; a++) {
                const row = (a0 + a) * k + b0;
                for (let b = 0; b < kb; b++) {
                  const v = gpart[a * kb + b]!;
                  acc[row + b] = acc[row + b]! + v;
                  const mirror = (b0 + b) * k + a0 + a;
                  acc[mirror] = acc[mirror]! + v;
                }
              }
            }
          } finally {
            gBuf.destroy();
            params.destroy();
          }
        }
      }
    } finally {
      for (const b of slices.values()) b.destroy();
    }
  }
}

/**
 * acc[j] += Σ_i x[i, j]² for checked, non-empty x [m, k].
 *
 * @throws PruneError GPU_LIMIT_EXCEEDED when one row of x exceeds the binding limit.
 * @example
 * await gpuColSqNormAccumulate(env, "webgpu.colSqNormAccumulate", x, m, k, acc);
 */
export async function gpuColSqNormAccumulate(
  env: BackendEnv,
  where: string,
  x: Float32Array,
  m: number,
  k: number,
  acc: Float64Array,
): Promise<void> {
  const { ctx, L } = env;
  if (4 * k > L) throw limitError(env, where, "one row of x", 4 * k);
  const rows = Math.max(1, Math.min(m, Math.floor(L / (4 * k))));
  const pipeline = await ctx.pipeline("col-sq-norm", COL_SQ_NORM_WGSL);
  for (let i0 = 0; i0 < m; i0 += rows) {
    const mc = Math.min(m, i0 + rows) - i0;
    const xBuf = ctx.upload(x.subarray(i0 * k, (i0 + mc) * k), "x");
    const sBuf = ctx.output(4 * k, "sq");
    const params = ctx.params(mc, k, 0, 0);
    try {
      const s = await ctx.run(
        where,
        [{ pipeline, buffers: [xBuf, sBuf, params], workgroups: ctx.grid(Math.ceil(k / 64)) }],
        sBuf,
        4 * k,
      ); // (k,)
      for (let j = 0; j < k; j++) acc[j] = acc[j]! + s[j]!;
    } finally {
      xBuf.destroy();
      sBuf.destroy();
      params.destroy();
    }
  }
}

/**
 * Validate the operands of an accumulation.
 *
 * @throws RangeError / TypeError naming the operand.
 * @example
 * checkAccumulate("webgpu.gramAccumulate", x, m, k, acc, k * k);
 */
export function checkAccumulate(
  where: string,
  x: Float32Array,
  m: number,
  k: number,
  acc: Float64Array,
  accLen: number,
): void {
  checkDims(where, { m, k });
  if (!(x instanceof Float32Array)) throw new TypeError(`${where}: x must be a Float32Array`);
  if (!(acc instanceof Float64Array)) throw new TypeError(`${where}: acc must be a Float64Array`);
  if (x.length !== m * k)
    throw new RangeError(`${where}: x has ${x.length} elements, expected m·k = ${m * k}`);
  if (acc.length !== accLen)
    throw new RangeError(`${where}: acc has ${acc.length} elements, expected ${accLen}`);
}
