// The WebGPU ComputeBackend: matmulTransB (dense or registered sparse weights), Gram and column
// square-norm accumulation, on an injected GPUDevice.

import {
  type ComputeBackend,
  checkMatmulShapes,
  type Logger,
  type MatmulOptions,
  PruneError,
  SILENT_LOGGER,
} from "@mama-prune/core";
import { f32ToF16Bits } from "./f16.ts";
import { GpuContext, type GpuLimits, type PassSpec } from "./gpu/context.ts";
import type { WaitMode } from "./gpu/settle.ts";
import { decodeWorkgroupWgsl } from "./gpu/shaders/decode-workgroup.wgsl.ts";
import { denseMatmulWgsl, denseMatmulWorkgroupBytes } from "./gpu/shaders/dense-matmul.wgsl.ts";
import { DENSE_MATVEC_WGSL } from "./gpu/shaders/dense-matvec.wgsl.ts";
import { sparseMatmulWgsl } from "./gpu/shaders/sparse-matmul.wgsl.ts";
import { COL_SQ_NORM_WGSL, gramWgsl } from "./gpu/shaders/stats.wgsl.ts";
import {
  type SparseWeight,
  type SparseWeightFormat,
  sliceSparseRows,
  sparseFromDense,
  sparseMaxBufferBytes,
  validateSparseWeight,
} from "./sparse-weight.ts";

export type { GpuLimits } from "./gpu/context.ts";

/** Which dense kernel runs: "auto" = matvec below 4 tokens, tiled otherwise. */
export type DenseKernelChoice = "auto" | "tiled" | "matvec";

/** Automatic sparse registration of weights that are mostly zeros (see {@link WebGpuBackendOptions}). */
export interface AutoSparseOptions {
  /** Layout to build. "sparse-24-bitmask" falls back to dense for weights that are not 2:4. */
  readonly format: SparseWeightFormat;
  /** Minimum fraction of zeros (0..1) for a weight to run sparse. */
  readonly minSparsity: number;
}

/** Options of {@link createWebGpuBackend}. */
export interface WebGpuBackendOptions {
  /** Shown in reports. Default "webgpu" plus the adapter description when the device exposes it. */
  readonly name?: string;
  /** Lower the device's limits (never raises them): forces the tiling paths, e.g. in tests. */
  readonly limits?: Partial<GpuLimits>;
  /** Keep weight buffers on the GPU, keyed by the Float32Array (default true). See {@link WebGpuBackend.invalidate}. */
  readonly cacheWeights?: boolean;
  /** "sleep" (default where allowed): low-spin wait for GPU results; "await": plain await. */
  readonly wait?: WaitMode;
  /** Nap length of the "sleep" wait in ms (default 2). */
  readonly sleepMs?: number;
  /** Dense kernel selection (default "auto"). */
  readonly denseKernel?: DenseKernelChoice;
  /**
   * Kernels for fewer than 4 tokens (decode): "row" (default; one invocation per output, fastest on
   * CPU devices) or "workgroup" (64 invocations per output with coalesced loads and a reduction —
   * the usual layout for memory-bound decode on real GPUs; not measured on one here).
   */
  readonly decodeKernel?: "row" | "workgroup";
  /**
   * Tokens each invocation of the sparse kernels handles when there are 8 or more (prefill,
   * calibration): 4 or 8. Each non-zero's index and value are loaded once and used that many times.
   */
  readonly sparseTokensPerInvocation?: 4 | 8 | 16;
  /** Register weights with at least `minSparsity` zeros as sparse automatically on first use. */
  readonly autoSparse?: AutoSparseOptions;
  /**
   * Storage of dense weights on the GPU: "f32" (default) or "f16" (half the bytes; f32 arithmetic;
   * needs the device feature "shader-f16"). Sparse weights stay f32.
   */
  readonly weightStorage?: "f32" | "f16";
  /** Debug messages (kernel choices, tiling). */
  readonly logger?: Logger;
}

/** Counters of GPU work since the backend was created. */
export interface WebGpuBackendStats {
  readonly dispatches: number;
  readonly submits: number;
  readonly uploadedBytes: number;
  readonly readBytes: number;
  readonly cachedWeights: number;
}

/** A {@link ComputeBackend} on a GPUDevice, with sparse weight registration. */
export interface WebGpuBackend extends ComputeBackend {
  /** The device it runs on. */
  readonly device: GPUDevice;
  /** The limits it respects. */
  readonly limits: GpuLimits;
  /**
   * Run every later `matmulTransB(x, w, …)` with this sparse layout instead of `w`'s values. The
   * layout is validated and must have shape [n, k] of `w`; `w` itself is only the key.
   *
   * @throws PruneError TENSOR_IO_MALFORMED for an inconsistent layout, SHAPE_MISMATCH when
   *   rows·cols ≠ w.length.
   */
  registerSparseWeight(w: Float32Array, sparse: SparseWeight, name?: string): void;
  /** Run `w` dense again. */
  unregisterSparseWeight(w: Float32Array): void;
  /**
   * Drop the GPU copy of `w`, dense or an automatic sparse layout ({@link ComputeBackend.invalidate}):
   * call it after changing `w` in place (`LlamaModel.setLinearWeight` of `@mama-prune/model` does).
   * A layout given to {@link WebGpuBackend.registerSparseWeight} stays registered: it is re-uploaded,
   * not rebuilt from `w`; register the new layout (or unregister) when the values change.
   */
  invalidate(w: Float32Array): void;
  /** Work counters. */
  stats(): WebGpuBackendStats;
  /** Destroy cached buffers (the device stays usable; its owner destroys it). Safe to call twice. */
  dispose(): Promise<void>;
}

// ---- Weight storage on the GPU ----

interface WeightChunk {
  readonly r0: number;
  readonly r1: number;
  readonly buffers: readonly GPUBuffer[];
}

interface GpuWeight {
  readonly kind: "dense" | SparseWeightFormat;
  readonly n: number;
  readonly k: number;
  readonly chunks: readonly WeightChunk[];
}

function destroyWeight(g: GpuWeight): void {
  for (const c of g.chunks) for (const b of c.buffers) b.destroy();
}

const TM_THRESHOLD = 4; // fewer tokens than this → one-token kernels (matvec / tm = 1)

/**
 * Create a WebGPU implementation of the ComputeBackend interface of @mama-prune/core on `device`.
 * Weights are uploaded once and cached per Float32Array (WeakMap; buffers are destroyed when the
 * array is garbage-collected or on dispose). Work larger than the device's storage-binding limit is
 * split into row chunks of x and w. Results agree with the CPU backend within float32 rounding.
 *
 * @throws PruneError GPU_DEVICE_LOST from every method once the device is lost; GPU_LIMIT_EXCEEDED
 *   when a single row of an operand exceeds the binding limit; SHAPE_MISMATCH when a registered
 *   sparse weight's shape disagrees with the call.
 * @throws RangeError for wrong shapes or options (as the CPU backend).
 * @example
 * const { device } = await createNodeGpu(); // from "@mama-prune/kernels-webgpu/node"
 * const backend = createWebGpuBackend(device);
 * const y = await backend.matmulTransB(x, w, m, k, n); // (m, n)
 */
export function createWebGpuBackend(device: GPUDevice, options: WebGpuBackendOptions = {}): WebGpuBackend {
  const ctxOptions: { limits?: Partial<GpuLimits>; wait?: WaitMode; sleepMs?: number } = {};
  if (options.limits !== undefined) ctxOptions.limits = options.limits;
  if (options.wait !== undefined) ctxOptions.wait = options.wait;
  if (options.sleepMs !== undefined) ctxOptions.sleepMs = options.sleepMs;
  const ctx = new GpuContext(device, ctxOptions);
  const log = options.logger ?? SILENT_LOGGER;
  const cacheWeights = options.cacheWeights ?? true;
  const denseChoice = options.denseKernel ?? "auto";
  if (!["auto", "tiled", "matvec"].includes(denseChoice)) {
    throw new RangeError(
      `createWebGpuBackend: denseKernel must be "auto", "tiled" or "matvec", got ${String(denseChoice)}`,
    );
  }
  const decodeWg = (options.decodeKernel ?? "row") === "workgroup";
  if (options.decodeKernel !== undefined && options.decodeKernel !== "row" && !decodeWg) {
    throw new RangeError(
      `createWebGpuBackend: decodeKernel must be "row" or "workgroup", got ${String(options.decodeKernel)}`,
    );
  }
  const prefillTokens: 4 | 8 | 16 = options.sparseTokensPerInvocation ?? 8;
  if (prefillTokens !== 4 && prefillTokens !== 8 && prefillTokens !== 16) {
    throw new RangeError(
      `createWebGpuBackend: sparseTokensPerInvocation must be 4, 8 or 16, got ${String(prefillTokens)}`,
    );
  }
  const auto = options.autoSparse;
  if (auto !== undefined && !(auto.minSparsity >= 0 && auto.minSparsity <= 1)) {
    throw new RangeError(
      `createWebGpuBackend: autoSparse.minSparsity must be in [0, 1], got ${auto.minSparsity}`,
    );
  }
  const L = ctx.limits.maxStorageBufferBindingSize;
  const wg: 8 | 16 | undefined =
    ctx.limits.maxComputeInvocationsPerWorkgroup >= 256 &&
    ctx.limits.maxComputeWorkgroupStorageSize >= denseMatmulWorkgroupBytes(16)
      ? 16
      : ctx.limits.maxComputeInvocationsPerWorkgroup >= 64 &&
          ctx.limits.maxComputeWorkgroupStorageSize >= denseMatmulWorkgroupBytes(8)
        ? 8
        : undefined;
  const f16 = options.weightStorage === "f16";
  if (options.weightStorage !== undefined && options.weightStorage !== "f32" && !f16) {
    throw new RangeError(
      `createWebGpuBackend: weightStorage must be "f32" or "f16", got ${String(options.weightStorage)}`,
    );
  }
  if (f16 && !device.features.has("shader-f16")) {
    throw new PruneError(
      "GPU_UNAVAILABLE",
      `createWebGpuBackend: weightStorage "f16" needs the device feature "shader-f16". Expected a device created with it, got features [${[...device.features].sort().join(", ")}].`,
    );
  }
  if (f16 && wg === undefined) {
    throw new PruneError(
      "GPU_LIMIT_EXCEEDED",
      `createWebGpuBackend: weightStorage "f16" uses the tiled kernel, which needs 64 invocations and ${denseMatmulWorkgroupBytes(8)} bytes of workgroup memory. Expected at least that, got ${ctx.limits.maxComputeInvocationsPerWorkgroup} and ${ctx.limits.maxComputeWorkgroupStorageSize}.`,
    );
  }
  // Rows (of x, of w, of a Gram block) one tiled dispatch covers within the per-dimension grid limit.
  const maxTileRows =
    wg === undefined ? Number.POSITIVE_INFINITY : 4 * wg * ctx.limits.maxComputeWorkgroupsPerDimension;
  const info = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const adapterText = info
    ? info.description || [info.vendor, info.architecture].filter(Boolean).join(" ")
    : "";
  const name = options.name ?? (adapterText ? `webgpu (${adapterText})` : "webgpu");

  const sparseOf = new WeakMap<Float32Array, { sparse: SparseWeight; name: string }>();
  const cache = new WeakMap<Float32Array, GpuWeight>();
  const live = new Set<GpuWeight>();
  const finalizer = new FinalizationRegistry<GpuWeight>((g) => {
    if (live.delete(g)) destroyWeight(g);
  });
  let disposed = false;
  const dummy = (): GPUBuffer => ctx.output(4, "dummy");

  const limitError = (where: string, what: string, bytes: number): PruneError =>
    new PruneError(
      "GPU_LIMIT_EXCEEDED",
      `${where}: ${what} needs ${bytes} bytes in one storage binding. Expected at most maxStorageBufferBindingSize = ${L}, got ${bytes}.`,
    );

  // ---- Uploading weights ----

  function uploadDense(w: Float32Array, n: number, k: number, where: string): GpuWeight {
    const elem = f16 ? 2 : 4;
    if (elem * k > L) throw limitError(where, "one weight row", elem * k);
    const rowsPerChunk = Math.min(n, maxTileRows, Math.max(1, Math.floor(L / (elem * k))));
    const chunks: WeightChunk[] = [];
    for (let r0 = 0; r0 < n; r0 += rowsPerChunk) {
      const r1 = Math.min(n, r0 + rowsPerChunk);
      const part = w.subarray(r0 * k, r1 * k); // (r1 − r0, k)
      chunks.push({ r0, r1, buffers: [ctx.upload(f16 ? f32ToF16Bits(part) : part, "w")] });
    }
    return { kind: "dense", n, k, chunks };
  }

  function sparseBuffers(sw: SparseWeight): GPUBuffer[] {
    if (sw.format === "csr") {
      return [
        ctx.upload(sw.rowPtr, "rowPtr"),
        ctx.upload(sw.colIdx, "colIdx"),
        ctx.upload(sw.values, "values"),
      ];
    }
    const mask = ctx.upload(sw.bitmask, "bitmask", 4); // one zero word of padding for maskWord()
    const vals = ctx.upload(sw.compressed, "compressed");
    if (sw.format === "sparse-24-bitmask") return [vals, mask];
    return [vals, mask, ctx.upload(Uint32Array.from(sw.rowOffsets), "rowOffsets")];
  }

  function uploadSparse(sw: SparseWeight, where: string): GpuWeight {
    const [n, k] = sw.shape;
    const chunks: WeightChunk[] = [];
    if (sparseMaxBufferBytes(sw) <= L) {
      chunks.push({ r0: 0, r1: n, buffers: sparseBuffers(sw) });
    } else {
      // Greedy row ranges whose buffers fit the binding limit.
      let r0 = 0;
      while (r0 < n) {
        let r1 = r0 + 1;
        if (sparseMaxBufferBytes(sliceSparseRows(sw, r0, r1)) > L)
          throw limitError(where, "one sparse weight row", sparseMaxBufferBytes(sliceSparseRows(sw, r0, r1)));
        let step = 1;
        while (r1 < n) {
          const next = Math.min(n, r1 + step);
          if (sparseMaxBufferBytes(sliceSparseRows(sw, r0, next)) > L) {
            if (step === 1) break;
            step = 1;
            continue;
          }
          r1 = next;
          step *= 2;
        }
        chunks.push({ r0, r1, buffers: sparseBuffers(sliceSparseRows(sw, r0, r1)) });
        r0 = r1;
      }
    }
    return { kind: sw.format, n, k, chunks };
  }

  function weightFor(w: Float32Array, n: number, k: number, where: string): GpuWeight {
    const hit = cacheWeights ? cache.get(w) : undefined;
    if (hit !== undefined) {
      if (hit.n === n && hit.k === k) return hit;
      throw new PruneError(
        "SHAPE_MISMATCH",
        `${where}: this weight array was used as [${hit.n}, ${hit.k}] before. Expected the same shape, got [${n}, ${k}].`,
      );
    }
    const reg = sparseOf.get(w);
    let g: GpuWeight;
    if (reg !== undefined) {
      const [rn, rk] = reg.sparse.shape;
      if (rn !== n || rk !== k) {
        throw new PruneError(
          "SHAPE_MISMATCH",
          `${where}: sparse weight "${reg.name}" has shape [${rn}, ${rk}]. Expected [${n}, ${k}] (n, k of the call), got [${rn}, ${rk}].`,
        );
      }
      g = uploadSparse(reg.sparse, where);
    } else if (auto !== undefined && n * k > 0 && zeroFraction(w) >= auto.minSparsity) {
      let sw: SparseWeight | undefined;
      try {
        sw = sparseFromDense(w, n, k, auto.format, where);
      } catch (e) {
        log.debug(`${where}: weight [${n}, ${k}] is not ${auto.format}; running it dense`, {
          error: String(e),
        });
      }
      g = sw === undefined ? uploadDense(w, n, k, where) : uploadSparse(sw, where);
    } else {
      g = uploadDense(w, n, k, where);
    }
    if (cacheWeights) {
      cache.set(w, g);
      live.add(g);
      finalizer.register(w, g, g);
    }
    return g;
  }

  function dropCached(w: Float32Array): void {
    const g = cache.get(w);
    if (g !== undefined) {
      cache.delete(w);
      if (live.delete(g)) destroyWeight(g);
      finalizer.unregister(g);
    }
  }

  // ---- Kernels ----

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

  const checkLive = (where: string): void => {
    if (disposed)
      throw new PruneError(
        "GPU_DEVICE_LOST",
        `${where}: the backend was disposed. Expected a live backend, got a disposed one.`,
      );
    ctx.checkAlive(where);
  };

  return {
    name,
    device,
    limits: ctx.limits,

    async matmulTransB(
      x: Float32Array,
      w: Float32Array,
      m: number,
      k: number,
      n: number,
      mo?: MatmulOptions,
    ): Promise<Float32Array> {
      const where = "webgpu.matmulTransB";
      checkMatmulShapes(where, x, w, m, k, n, mo);
      checkLive(where);
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
      const g = weightFor(w, n, k, where);
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
                for (let i = 0; i < mc; i++)
                  out.set(y.subarray(i * nc, (i + 1) * nc), (i0 + i) * n + chunk.r0);
            }
          } finally {
            xBuf.destroy();
          }
        }
      } finally {
        if (!cacheWeights) destroyWeight(g);
      }
      return out;
    },

    async gramAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
      const where = "webgpu.gramAccumulate";
      checkAccumulate(where, x, m, k, acc, k * k);
      checkLive(where);
      if (m === 0 || k === 0) return;
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
    },

    async colSqNormAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
      const where = "webgpu.colSqNormAccumulate";
      checkAccumulate(where, x, m, k, acc, k);
      checkLive(where);
      if (m === 0 || k === 0) return;
      if (4 * k > L) throw limitError(where, "one row of x", 4 * k);
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
    },

    registerSparseWeight(w: Float32Array, sparse: SparseWeight, weightName = "sparse weight"): void {
      if (!(w instanceof Float32Array)) throw new TypeError("registerSparseWeight: w must be a Float32Array");
      validateSparseWeight(sparse, weightName);
      const [rows, cols] = sparse.shape;
      if (rows * cols !== w.length) {
        throw new PruneError(
          "SHAPE_MISMATCH",
          `registerSparseWeight: "${weightName}" has shape [${rows}, ${cols}]. Expected ${w.length} elements like its dense key, got ${rows * cols}.`,
        );
      }
      dropCached(w);
      sparseOf.set(w, { sparse, name: weightName });
    },

    unregisterSparseWeight(w: Float32Array): void {
      if (sparseOf.delete(w)) dropCached(w);
    },

    invalidate(w: Float32Array): void {
      dropCached(w);
    },

    stats(): WebGpuBackendStats {
      return { ...ctx.counters, cachedWeights: live.size };
    },

    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      for (const g of live) destroyWeight(g);
      live.clear();
    },
  };
}

function zeroFraction(w: Float32Array): number {
  let z = 0;
  for (let i = 0; i < w.length; i++) if (w[i] === 0) z++;
  return z / w.length;
}

function checkAccumulate(
  where: string,
  x: Float32Array,
  m: number,
  k: number,
  acc: Float64Array,
  accLen: number,
): void {
  for (const [label, v] of [
    ["m", m],
    ["k", k],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`${where}: ${label} must be a non-negative integer, got ${v}`);
  }
  if (!(x instanceof Float32Array)) throw new TypeError(`${where}: x must be a Float32Array`);
  if (!(acc instanceof Float64Array)) throw new TypeError(`${where}: acc must be a Float64Array`);
  if (x.length !== m * k)
    throw new RangeError(`${where}: x has ${x.length} elements, expected m·k = ${m * k}`);
  if (acc.length !== accLen)
    throw new RangeError(`${where}: acc has ${acc.length} elements, expected ${accLen}`);
}
