// Device acquisition from any WebGPU entry point (navigator.gpu in browsers and Deno, the `webgpu`
// package's create() in Node — see the ./node subpath).

import { PruneError } from "@mama-prune/core";

/** What the package reports about the adapter a device came from. */
export interface GpuAdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** True for software/CPU adapters when the runtime says so (SwiftShader, lavapipe …). */
  readonly isFallbackAdapter: boolean;
  /** Features of the adapter, sorted (e.g. "shader-f16", "subgroups"). */
  readonly features: readonly string[];
}

/** Options of {@link requestGpuDevice}. */
export interface RequestGpuDeviceOptions {
  readonly powerPreference?: GPUPowerPreference;
  /** Request "shader-f16" when the adapter has it (default true). */
  readonly requestF16?: boolean;
}

/** A device with its adapter's description. */
export interface GpuDeviceHandle {
  readonly device: GPUDevice;
  readonly adapterInfo: GpuAdapterSummary;
}

/** How to get an adapter on a machine without a GPU; part of every GPU_UNAVAILABLE message. */
export const GPU_UNAVAILABLE_HINT: string =
  "On Linux without a GPU, install SwiftShader's CPU Vulkan driver (apt-get install -y chromium libvulkan1) and run with VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json; in a browser, enable WebGPU";

/**
 * Summarise an adapter (tolerates runtimes that lack `info` or `isFallbackAdapter`).
 *
 * @example
 * summarizeAdapter(await navigator.gpu.requestAdapter()).description; // "SwiftShader driver 5.0.0"
 */
export function summarizeAdapter(adapter: GPUAdapter): GpuAdapterSummary {
  const info = (adapter as { info?: Partial<GPUAdapterInfo> }).info ?? {};
  const fallback = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
    isFallbackAdapter:
      fallback === true || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
    features: [...adapter.features].map(String).sort(),
  };
}

/**
 * Request an adapter and a device from a WebGPU entry point, asking for the adapter's full storage
 * binding and buffer sizes (the defaults are only 128 MiB / 256 MiB) and shader-f16 when present.
 *
 * @throws PruneError GPU_UNAVAILABLE when there is no adapter or the device request fails, with
 *   a message that says how to get one.
 * @example
 * const { device, adapterInfo } = await requestGpuDevice(navigator.gpu);
 */
export async function requestGpuDevice(
  gpu: GPU,
  options: RequestGpuDeviceOptions = {},
): Promise<GpuDeviceHandle> {
  if (gpu === undefined || gpu === null || typeof gpu.requestAdapter !== "function") {
    throw new PruneError(
      "GPU_UNAVAILABLE",
      `requestGpuDevice: this runtime has no WebGPU. Expected a GPU object (navigator.gpu), got ${String(gpu)}. ${GPU_UNAVAILABLE_HINT}.`,
    );
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(
      options.powerPreference === undefined ? undefined : { powerPreference: options.powerPreference },
    );
  } catch (e) {
    throw new PruneError(
      "GPU_UNAVAILABLE",
      `requestGpuDevice: requestAdapter failed (${String(e)}). ${GPU_UNAVAILABLE_HINT}.`,
      { cause: e },
    );
  }
  if (adapter === null || adapter === undefined) {
    throw new PruneError(
      "GPU_UNAVAILABLE",
      `requestGpuDevice: no WebGPU adapter found. Expected one adapter, got none. ${GPU_UNAVAILABLE_HINT}.`,
    );
  }
  const l = adapter.limits;
  const requiredFeatures: GPUFeatureName[] = [];
  if ((options.requestF16 ?? true) && adapter.features.has("shader-f16")) requiredFeatures.push("shader-f16");
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      },
    });
  } catch (e) {
    throw new PruneError(
      "GPU_UNAVAILABLE",
      `requestGpuDevice: the adapter refused a device (${String(e)}). ${GPU_UNAVAILABLE_HINT}.`,
      { cause: e },
    );
  }
  return { device, adapterInfo: summarizeAdapter(adapter) };
}
