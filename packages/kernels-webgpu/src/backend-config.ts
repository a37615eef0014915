// Resolved settings of a WebGPU backend: the options validated against the device and its limits.

import { type Logger, PruneError, SILENT_LOGGER } from "@mama-prune/core";
import type { AutoSparseOptions, DenseKernelChoice, WebGpuBackendOptions } from "./backend.ts";
import { GpuContext, type GpuLimits } from "./gpu/context.ts";
import type { WaitMode } from "./gpu/settle.ts";
import { denseMatmulWorkgroupBytes } from "./gpu/shaders/dense-matmul.wgsl.ts";

/** Everything the parts of a backend share: its context, logger and resolved options. @internal */
export interface BackendEnv {
  readonly ctx: GpuContext;
  readonly log: Logger;
  readonly name: string;
  readonly cacheWeights: boolean;
  readonly denseChoice: DenseKernelChoice;
  /** Decode (fewer than 4 tokens) with the 64-invocation workgroup kernels. */
  readonly decodeWg: boolean;
  readonly prefillTokens: 4 | 8 | 16;
  readonly auto: AutoSparseOptions | undefined;
  /** maxStorageBufferBindingSize in bytes. */
  readonly L: number;
  /** Workgroup side of the tiled kernels (16 or 8), undefined when the device allows neither. */
  readonly wg: 8 | 16 | undefined;
  /** Dense weights stored as f16. */
  readonly f16: boolean;
  /** Rows (of x, of w, of a Gram block) one tiled dispatch covers within the per-dimension grid limit. */
  readonly maxTileRows: number;
}

/**
 * Validate the options of {@link createWebGpuBackend} against `device` and resolve them.
 *
 * @throws RangeError for an option out of range; PruneError GPU_UNAVAILABLE / GPU_LIMIT_EXCEEDED
 *   when f16 weights need what the device lacks.
 * @example
 * const env = resolveBackendEnv(device, { denseKernel: "tiled" });
 */
export function resolveBackendEnv(device: GPUDevice, options: WebGpuBackendOptions): BackendEnv {
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
  const maxTileRows =
    wg === undefined ? Number.POSITIVE_INFINITY : 4 * wg * ctx.limits.maxComputeWorkgroupsPerDimension;
  const info = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const adapterText = info
    ? info.description || [info.vendor, info.architecture].filter(Boolean).join(" ")
    : "";
  const name = options.name ?? (adapterText ? `webgpu (${adapterText})` : "webgpu");
  return {
    ctx,
    log,
    name,
    cacheWeights,
    denseChoice,
    decodeWg,
    prefillTokens,
    auto,
    L,
    wg,
    f16,
    maxTileRows,
  };
}

/**
 * The error of an operand that does not fit one storage binding.
 *
 * @example
 * throw limitError(env, "webgpu.matmulTransB", "one row of x", 4 * k);
 */
export function limitError(env: BackendEnv, where: string, what: string, bytes: number): PruneError {
  return new PruneError(
    "GPU_LIMIT_EXCEEDED",
    `${where}: ${what} needs ${bytes} bytes in one storage binding. Expected at most maxStorageBufferBindingSize = ${env.L}, got ${bytes}.`,
  );
}
