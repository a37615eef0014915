// Node entry: a Dawn device from the `webgpu` package (an optional peer dependency).

import { PruneError } from "@mama-prune/core";
import { GPU_UNAVAILABLE_HINT, type GpuAdapterSummary, requestGpuDevice } from "../device.ts";

/** Options of {@link createNodeGpu}. */
export interface NodeGpuOptions {
  /**
   * Sets VK_ICD_FILENAMES for this process before Dawn starts (e.g.
   * "/usr/lib/chromium/vk_swiftshader_icd.json" for SwiftShader on a machine without a GPU). Left
   * alone when absent: on a machine with a GPU, Dawn finds it.
   */
  readonly vkIcdFilenames?: string;
  readonly powerPreference?: GPUPowerPreference;
  /** Dawn toggles passed to `create()`, e.g. ["backend=vulkan"]. */
  readonly dawnOptions?: readonly string[];
}

/** A Dawn device and its adapter; call dispose() so the process can exit. */
export interface NodeGpu {
  readonly device: GPUDevice;
  readonly adapterInfo: GpuAdapterSummary;
  /** Destroy the device and drop every reference to Dawn. Safe to call twice. */
  dispose(): Promise<void>;
}

/**
 * Create a WebGPU device on Node with Dawn (the `webgpu` npm package, an optional peer dependency).
 *
 * @throws PruneError GPU_UNAVAILABLE when `webgpu` is not installed or no adapter is found (the
 *   message says how to get SwiftShader on a machine without a GPU).
 * @example
 * const gpu = await createNodeGpu();
 * console.log(gpu.adapterInfo.description); // "SwiftShader driver 5.0.0" on a CPU-only machine
 * await gpu.dispose();
 */
export async function createNodeGpu(options: NodeGpuOptions = {}): Promise<NodeGpu> {
  if (options.vkIcdFilenames !== undefined) process.env["VK_ICD_FILENAMES"] = options.vkIcdFilenames;
  let mod: { create(options: string[]): GPU; globals: object };
  try {
    const specifier: string = "webgpu";
    mod = (await import(specifier)) as typeof mod;
  } catch (e) {
    throw new PruneError(
      "GPU_UNAVAILABLE",
      `createNodeGpu: the "webgpu" package (Dawn for Node) could not be loaded (${String(e)}). Expected it installed (npm install webgpu), got none. ${GPU_UNAVAILABLE_HINT}.`,
      { cause: e },
    );
  }
  let gpu: GPU | undefined = mod.create([...(options.dawnOptions ?? [])]);
  const req: { powerPreference?: GPUPowerPreference } = {};
  if (options.powerPreference !== undefined) req.powerPreference = options.powerPreference;
  let handle: { device: GPUDevice; adapterInfo: GpuAdapterSummary } | undefined;
  try {
    handle = await requestGpuDevice(gpu, req);
  } catch (e) {
    gpu = undefined;
    throw e;
  }
  let device: GPUDevice | undefined = handle.device;
  return {
    device,
    adapterInfo: handle.adapterInfo,
    async dispose(): Promise<void> {
      if (device === undefined) return;
      device.destroy();
      device = undefined;
      gpu = undefined;
      handle = undefined;
    },
  };
}
