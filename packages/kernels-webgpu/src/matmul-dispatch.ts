// matmulTransB on the GPU: kernel choice (tiled / matvec / decode workgroup / sparse), grids, and
// the row tiling of x and of the weight's chunks so every binding fits.

import { type MatmulOptions, PruneError } from "@mama-prune/core";
import type { BackendEnv } from "./backend-config.ts";
import { limitError as envLimitError } from "./backend-config.ts";
import type { PassSpec } from "./gpu/context.ts";
import { decodeWorkgroupWgsl } from "./gpu/shaders/decode-workgroup.wgsl.ts";
import { denseMatmulWgsl } from "./gpu/shaders/dense-matmul.wgsl.ts";
import { DENSE_MATVEC_WGSL } from "./gpu/shaders/dense-matvec.wgsl.ts";
import { sparseMatmulWgsl } from "./gpu/shaders/sparse-matmul.wgsl.ts";
import { destroyWeight, type GpuWeight, type WeightChunk, type WeightStore } from "./weight-store.ts";

const TM_THRESHOLD = 4; // fewer tokens than this → one-token kernels (matvec / tm = 1)

/** y = x · wᵀ (+ bias) on checked operands. @internal */
export type GpuMatmul = (
  x: Float32Array,
  w: Float32Array,
  m: number,
  k: number,
  n: number,
  mo?: MatmulOptions,
) => Promise<Float32Array>;

/**
 * The matmul of a backend, its shapes already checked and the backend known to be live.
 *
 * @example
 * const matmul = createGpuMatmul(env, store);
 * const y = await matmul(x, w, m, k, n); // (m, n)
 */
export function createGpuMatmul(env: BackendEnv, store: WeightStore): GpuMatmul {
  const { ctx, log, cacheWeights, denseChoice, decodeWg, prefillTokens, L, wg, f16, maxTileRows } = env;
  const limitError = (where: string, what: string, bytes: number): PruneError =>
    envLimitError(env, where, what, bytes);
  const dummy = (): GPUBuffer => ctx.output(4, "dummy");

  function denseTiled(m: number): boolean {
    if (f16) return true; // the f16 path has only the tiled kernel
    return !(denseChoice === "matvec" || wg === undefined || (denseChoice === "auto" && m < TM_THRESHOLD));
  }

  function densePipeline(m: number): Promise<GPUComputePipeline> {
    if (!denseTiled(m) || wg === undefined) return ctx.pipeline("dense-matvec", DENSE_MATVEC_WGSL);
    if (f16) return ctx.pipeline(`dense-tiled-${wg}-f16`, denseMatmulWgsl({ wg, weightType: "f16" }));
    return ctx.pipeline(`dense-tiled-${wg}`, denseMatmulWgsl({ wg }));
  }

  function denseGrid(m: number, n: number): [number, number] {
    if (denseTiled(m)) {
      const tile = 4 * (wg ?? 8);
      const gx = Math.ceil(n / tile);
      const gy = Math.ceil(m / tile);
      const max = ctx.limits.maxComputeWorkgroupsPerDimension;
      if (gx > max || gy > max) {
        throw new PruneError(
          "GPU_LIMIT_EXCEEDED",
          `matmulTransB: grid ${gx}×${gy} exceeds ${max} workgroups per dimension. Expected smaller m or n, got m=${m}, n=${n}.`,
        );
      }
      return [Math.max(1, gx), Math.max(1, gy)];
    }
    return ctx.grid(Math.ceil((m * n) / 64));
  }

  async function runChunk(
    where: string,
    g: GpuWeight,
    chunk: WeightChunk,
    xBuf: GPUBuffer,
    mc: number,
    k: number,
    bias: Float32Array | undefined,
  ): Promise<Float32Array> {
    const nc = chunk.r1 - chunk.r0;
    const yBuf = ctx.output(4 * mc * nc, "y");
    const biasBuf = bias ? ctx.upload(bias.subarray(chunk.r0, chunk.r1), "bias") : dummy();
    const params = ctx.params(mc, k, nc, bias ? 1 : 0);
    try {
      let pass: PassSpec;
      if (g.kind === "dense" && decodeWg && !denseTiled(mc)) {
        const pipeline = await ctx.pipeline("decode-wg-dense", decodeWorkgroupWgsl("dense"));
        pass = {
          pipeline,
          buffers: [xBuf, chunk.buffers[0]!, biasBuf, yBuf, params],
          workgroups: ctx.grid(mc * nc),
        };
      } else if (g.kind !== "dense" && decodeWg && mc < TM_THRESHOLD) {
        const pipeline = await ctx.pipeline(`decode-wg-${g.kind}`, decodeWorkgroupWgsl(g.kind));
        pass = {
          pipeline,
          buffers: [xBuf, biasBuf, yBuf, params, ...chunk.buffers],
          workgroups: ctx.grid(mc * nc),
        };
      } else if (g.kind === "dense") {
        const pipeline = await densePipeline(mc);
        pass = {
          pipeline,
          buffers: [xBuf, chunk.buffers[0]!, biasBuf, yBuf, params],
          workgroups: denseGrid(mc, nc),
        };
      } else {
        const tm: 1 | 4 | 8 | 16 =
          mc < TM_THRESHOLD
            ? 1
            : mc < 8
              ? 4
              : mc < 16
                ? (Math.min(8, prefillTokens) as 4 | 8)
                : prefillTokens;
        const pipeline = await ctx.pipeline(
          `sparse-${g.kind}-tm${tm}`,
          sparseMatmulWgsl({ format: g.kind, tm }),
        );
        pass = {
          pipeline,
          buffers: [xBuf, biasBuf, yBuf, params, ...chunk.buffers],
          workgroups: ctx.grid(Math.ceil((nc * Math.ceil(mc / tm)) / 64)),
        };
      }
      return await ctx.run(where, [pass], yBuf, 4 * mc * nc);
    } finally {
      yBuf.destroy();
      biasBuf.destroy();
      params.destroy();
    }
  }

  return async (x, w, m, k, n, mo) => {
    const where = "webgpu.matmulTransB";
    const out = mo?.out ?? new Float32Array(m * n); // (m, n)
    if (m === 0 || n === 0) return out;
    if (k === 0) {
      for (let i = 0; i < m; i++) {
        if (mo?.bias) out.set(mo.bias, i * n);
        else out.fill(0, i * n, (i + 1) * n);
      }
      return out;
    }
    if (4 * k > L) throw limitError(where, "one row of x", 4 * k);
    const g = store.weightFor(w, n, k, where);
    try {
      const maxChunkRows = Math.max(...g.chunks.map((c) => c.r1 - c.r0));
      const rowsX = Math.max(
        1,
        Math.min(m, maxTileRows, Math.floor(L / (4 * k)), Math.floor(L / (4 * Math.max(1, maxChunkRows)))),
      );
      if (g.chunks.length > 1 || rowsX < m) {
        log.debug(
          `${where}: tiling [${m}, ${k}] × [${n}, ${k}]ᵀ into ${Math.ceil(m / rowsX)} × ${g.chunks.length} pieces`,
        );
      }
      for (let i0 = 0; i0 < m; i0 += rowsX) {
        const i1 = Math.min(m, i0 + rowsX);
        const mc = i1 - i0;
        const xBuf = ctx.upload(x.subarray(i0 * k, i1 * k), "x");
        try {
          for (const chunk of g.chunks) {
            const y = await runChunk(where, g, chunk, xBuf, mc, k, mo?.bias);
            const nc = chunk.r1 - chunk.r0;
            if (nc === n) out.set(y, i0 * n);
            else
              for (let i = 0; i < mc; i++) out.set(y.subarray(i * nc, (i + 1) * nc), (i0 + i) * n + chunk.r0);
          }
        } finally {
          xBuf.destroy();
        }
      }
    } finally {
      if (!cacheWeights) destroyWeight(g);
    }
    return out;
  };
}
