// The WebGPU ComputeBackend: matmulTransB (dense or registered sparse weights), Gram and column
// square-norm accumulation, on an injected GPUDevice. Its parts: resolved options
// (./backend-config.ts), weights on the GPU (./weight-store.ts), the matmul dispatch
// (./matmul-dispatch.ts) and the statistics (./stats-dispatch.ts).

import {
  type ComputeBackend,
  checkMatmulShapes,
  type Logger,
  type MatmulOptions,
  PruneError,
} from "@mama-prune/core";
import { resolveBackendEnv } from "./backend-config.ts";
import type { GpuLimits } from "./gpu/context.ts";
import type { WaitMode } from "./gpu/settle.ts";
import { createGpuMatmul } from "./matmul-dispatch.ts";
import { type SparseWeight, type SparseWeightFormat, validateSparseWeight } from "./sparse-weight.ts";
import { checkAccumulate, gpuColSqNormAccumulate, gpuGramAccumulate } from "./stats-dispatch.ts";
import { createWeightStore } from "./weight-store.ts";

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
  const env = resolveBackendEnv(device, options);
  const { ctx } = env;
  const store = createWeightStore(env);
  const matmul = createGpuMatmul(env, store);
  let disposed = false;

  const checkLive = (where: string): void => {
    if (disposed)
      throw new PruneError(
        "GPU_DEVICE_LOST",
        `${where}: the backend was disposed. Expected a live backend, got a disposed one.`,
      );
    ctx.checkAlive(where);
  };

  return {
    name: env.name,
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
      return matmul(x, w, m, k, n, mo);
    },

    async gramAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
      const where = "webgpu.gramAccumulate";
      checkAccumulate(where, x, m, k, acc, k * k);
      checkLive(where);
      if (m === 0 || k === 0) return;
      return gpuGramAccumulate(env, where, x, m, k, acc);
    },

    async colSqNormAccumulate(x: Float32Array, m: number, k: number, acc: Float64Array): Promise<void> {
      const where = "webgpu.colSqNormAccumulate";
      checkAccumulate(where, x, m, k, acc, k);
      checkLive(where);
      if (m === 0 || k === 0) return;
      return gpuColSqNormAccumulate(env, where, x, m, k, acc);
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
      store.registerSparse(w, sparse, weightName);
    },

    unregisterSparseWeight(w: Float32Array): void {
      store.unregisterSparse(w);
    },

    invalidate(w: Float32Array): void {
      store.dropCached(w);
    },

    stats(): WebGpuBackendStats {
      return { ...ctx.counters, cachedWeights: store.cachedCount() };
    },

    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      store.destroyAll();
    },
  };
}
