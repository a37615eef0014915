// The backends of bench:scale's children (`--backend`): auto (the CLI default), wasm, js, native and
// webgpu, each built as the CLI builds it (packages/cli/src/commands/context.ts), plus what the
// report records about the device (a WebGPU adapter, a backend's work counters).
import { createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, PruneError } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";

/** Every `--backend` value bench:scale accepts. */
export const BENCH_BACKENDS: readonly string[] = ["auto", "wasm", "js", "native", "native-spin", "webgpu"];

/** A child's backend and what must be released with it. */
export interface BenchBackend {
  readonly backend: ComputeBackend;
  /** The WebGPU adapter (vendor, architecture, description, fallback flag, features); absent off WebGPU. */
  readonly adapter?: Record<string, unknown>;
  /** Work counters of the backend where it keeps them (WebGPU: dispatches, submits, bytes up/down). */
  readonly stats?: () => Record<string, unknown>;
  dispose(): Promise<void>;
}

/**
 * `name`: "auto" (or absent: the CLI default, as without --backend), "wasm", "js", "native",
 * "native-spin" (native with onnxruntime's threads spin-waiting between calls, its pre-2026-12-07
 * behaviour, to measure that default) or "webgpu".
 */
export async function createBenchBackend(name: string | undefined): Promise<BenchBackend> {
  if (name === "webgpu") return await createWebGpu();
  const backend = await createCpuOrNative(name);
  return { backend, dispose: async () => await backend.dispose?.() };
}

async function createCpuOrNative(name: string | undefined): Promise<ComputeBackend> {
  if (name === "native" || name === "native-spin") {
    const { createNativeBackend } = await import("@mama-prune/compute-native/node");
    return await createNativeBackend(name === "native-spin" ? { spinning: true } : {});
  }
  const prefer = name === undefined ? "auto" : name;
  if (prefer === "auto" && process.env["MAMA_PRUNE_NO_NATIVE"] !== "1") {
    // As the CLI's auto: native where it can be created, else the CPU backends.
    try {
      const { createNativeBackend } = await import("@mama-prune/compute-native/node");
      return await createNativeBackend();
    } catch {
      // onnxruntime-node missing or unusable here: wasm, else js.
    }
  }
  if (prefer !== "auto" && prefer !== "wasm" && prefer !== "js")
    throw new Error(`--backend: expected one of ${BENCH_BACKENDS.join(", ")}, got ${JSON.stringify(prefer)}`);
  return await createDefaultCpuBackend({ fallback: createCpuBackend, prefer });
}

/**
 * The CLI's `--backend webgpu`: kernels-webgpu's backend with its default options on a Dawn device
 * (`createNodeGpu()` of @mama-prune/kernels-webgpu/node, the `webgpu` package). The device is found
 * as Dawn finds it: VK_ICD_FILENAMES / VK_DRIVER_FILES pick the Vulkan driver (SwiftShader on a
 * machine without a GPU).
 */
async function createWebGpu(): Promise<BenchBackend> {
  let mods: [typeof import("@mama-prune/kernels-webgpu/node"), typeof import("@mama-prune/kernels-webgpu")];
  try {
    mods = await Promise.all([
      import("@mama-prune/kernels-webgpu/node"),
      import("@mama-prune/kernels-webgpu"),
    ]);
  } catch (e) {
    throw new PruneError(
      "GPU_UNAVAILABLE",
      `--backend webgpu: the @mama-prune/kernels-webgpu package could not be loaded (${String(e).split("\n")[0]?.slice(0, 200)}). Expected it in the workspace (npm ci), got none.`,
      { cause: e },
    );
  }
  const [{ createNodeGpu }, { createWebGpuBackend, GPU_UNAVAILABLE_HINT }] = mods;
  let gpu: Awaited<ReturnType<typeof createNodeGpu>>;
  try {
    gpu = await createNodeGpu();
  } catch (e) {
    // createNodeGpu's message already names the `webgpu` package or the missing adapter and the hint.
    const why = (e as Error).message.replace(/\s*\n\s*/g, " ");
    const hint = why.includes(GPU_UNAVAILABLE_HINT) ? "" : ` ${GPU_UNAVAILABLE_HINT}.`;
    throw new PruneError(
      "GPU_UNAVAILABLE",
      `--backend webgpu: no WebGPU device from @mama-prune/kernels-webgpu/node (the "webgpu" package, Dawn). ${why}${hint}`,
      { cause: e },
    );
  }
  const backend = createWebGpuBackend(gpu.device);
  return {
    backend,
    adapter: { ...gpu.adapterInfo },
    stats: () => ({ ...backend.stats() }),
    dispose: async () => {
      await backend.dispose();
      await gpu.dispose();
    },
  };
}
