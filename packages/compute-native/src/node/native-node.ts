/**
 * The Node factory of the native backend: onnxruntime-node for the large matmuls, the threaded wasm
 * backend of `@mama-prune/compute-wasm/node` for everything else.
 */
import { availableParallelism } from "node:os";
import type { WasmBackendBaseOptions } from "@mama-prune/compute-wasm";
import { createWasmBackendNode, DEFAULT_MAX_THREADS } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, PruneError } from "@mama-prune/core";
import { createOrtGemmBackend, type NativeBackend } from "../native-backend.ts";
import type { OrtModule } from "../ort.ts";
import type { NativeGemmThreshold } from "../threshold.ts";

/** The onnxruntime-node version this package is built and tested against (its pinned peer). */
export const ONNXRUNTIME_NODE_VERSION = "1.30.0";

const INSTALL = `npm install --save-exact onnxruntime-node@${ONNXRUNTIME_NODE_VERSION}`;

/** Options of {@link createNativeBackend}. */
export interface NativeBackendNodeOptions extends WasmBackendBaseOptions {
  /**
   * Threads of onnxruntime and of the wasm delegate, the calling thread included. Default:
   * `os.availableParallelism()` capped at 8 (the wasm backend's default).
   */
  readonly threads?: number;
  /** Which matmuls run on onnxruntime (default `DEFAULT_NATIVE_GEMM_THRESHOLD`). */
  readonly threshold?: Partial<NativeGemmThreshold>;
  /**
   * Let onnxruntime's intra-op threads spin between calls (default false; see
   * `OrtGemmBackendOptions.spinning`).
   */
  readonly spinning?: boolean;
  /** Loads onnxruntime (default: `import("onnxruntime-node")`); injectable for tests. */
  readonly loadOrt?: () => Promise<unknown>;
  /**
   * The backend of everything below the threshold (default: `createWasmBackendNode` with the same
   * threads and the wasm options given here). Owned: disposed with the native backend.
   */
  readonly delegate?: ComputeBackend;
}

function isOrtModule(m: unknown): m is OrtModule {
  const o = m as Partial<OrtModule> | null | undefined;
  return (
    typeof o?.Tensor === "function" &&
    (typeof o.InferenceSession === "object" || typeof o.InferenceSession === "function") &&
    typeof o.InferenceSession.create === "function"
  );
}

/**
 * Load onnxruntime-node (or what `load` returns) and check that it looks like onnxruntime.
 *
 * @throws PruneError BACKEND_UNAVAILABLE naming the package and the install command when it cannot
 *   be loaded (not installed, no binary for this platform, not Node).
 * @example
 * const ort = await loadOnnxRuntime();
 * ort.env?.versions?.node; // "1.30.0"
 */
export async function loadOnnxRuntime(load?: () => Promise<unknown>): Promise<OrtModule> {
  const where = "compute-native";
  let mod: unknown;
  try {
    if (load !== undefined) mod = await load();
    else {
      const specifier: string = "onnxruntime-node"; // not a static import: the peer is optional
      mod = await import(specifier);
    }
  } catch (e) {
    throw new PruneError(
      "BACKEND_UNAVAILABLE",
      `${where}: the native backend needs the "onnxruntime-node" package (onnxruntime's N-API addon for Node). Expected onnxruntime-node ${ONNXRUNTIME_NODE_VERSION} installed (${INSTALL}; onnxruntime-node-install=skip in .npmrc skips its CUDA download), got a failed import: ${String(e).split("\n")[0]?.slice(0, 200)}. Without it, use the wasm backend.`,
      { cause: e },
    );
  }
  const m = (mod as { default?: unknown } | null)?.default ?? mod;
  const ort = isOrtModule(mod) ? mod : m;
  if (!isOrtModule(ort)) {
    throw new PruneError(
      "BACKEND_UNAVAILABLE",
      `${where}: "onnxruntime-node" loaded but has no Tensor / InferenceSession.create. Expected onnxruntime-node ${ONNXRUNTIME_NODE_VERSION} (${INSTALL}), got a module with keys ${JSON.stringify(Object.keys((ort as object | null) ?? {}).slice(0, 8))}`,
    );
  }
  return ort;
}

/**
 * Create the native backend on Node: matmuls at or above the threshold on onnxruntime-node (MLAS),
 * everything else (small matmuls, Gram, column norms, attention, SwiGLU) on the threaded wasm
 * backend, so models whose matmuls all fall below the threshold (e.g. stories260K) give the wasm
 * backend's results bit for bit. Call `dispose()` when done.
 *
 * @throws PruneError BACKEND_UNAVAILABLE when onnxruntime-node cannot be loaded (the message names
 *   the package and the install command), or from the wasm delegate.
 * @throws RangeError for bad `threads` or `threshold`.
 * @example
 * const backend = await createNativeBackend({ threads: 2 });
 * const y = await backend.matmulTransB(new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 2, 1);
 * y; // Float32Array [11]
 * await backend.dispose();
 */
export async function createNativeBackend(options: NativeBackendNodeOptions = {}): Promise<NativeBackend> {
  const where = "compute-native createNativeBackend";
  const threads = options.threads ?? Math.min(availableParallelism(), DEFAULT_MAX_THREADS);
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new RangeError(`${where}: threads must be an integer in [1, 256], got ${String(options.threads)}`);
  }
  const ort = await loadOnnxRuntime(options.loadOrt);
  const { threshold, spinning, loadOrt: _l, delegate: given, threads: _t, ...wasmOptions } = options;
  const delegate = given ?? (await createWasmBackendNode({ ...wasmOptions, threads }));
  try {
    return createOrtGemmBackend({
      ort,
      delegate,
      threads,
      ...(threshold !== undefined ? { threshold } : {}),
      ...(spinning !== undefined ? { spinning } : {}),
    });
  } catch (e) {
    await delegate.dispose?.();
    throw e;
  }
}
