/// <reference lib="webworker" />
// The page's Web Worker: picks the compute backend (WebGPU when the browser has an adapter, else
// WebAssembly SIMD on all cores through nested workers over shared memory, else one wasm thread),
// loads the model and text, and runs the job. The page's main thread only draws.
import {
  createWasmBackend,
  createWasmBackendWorkers,
  isWasmThreadsSupported,
} from "@mama-prune/compute-wasm";
import { type ComputeBackend, PruneError } from "@mama-prune/core";
import { createWebGpuBackend, requestGpuDevice } from "@mama-prune/kernels-webgpu";
import { createCpuBackend } from "@mama-prune/model";
import bundledModelUrl from "../../../data/stories260K/stories260K.bin?url";
import bundledTokenizerUrl from "../../../data/stories260K/tok512.bin?url";
import bundledTextUrl from "../../../data/tinystories/tinystories_val.txt?url";
import { type LoadedModel, llama2cModel, pickedModel } from "./inputs.ts";
import { runJob } from "./job.ts";
import type { BackendChoice, ModelInput, RunRequest, TextInput, WorkerMessage } from "./protocol.ts";

declare const self: DedicatedWorkerGlobalScope;

function post(message: WorkerMessage, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function loadModel(input: ModelInput): Promise<LoadedModel> {
  if (input.kind === "files") return await pickedModel(input.name, input.files);
  const [model, tokenizer] = await Promise.all([
    fetchBytes(bundledModelUrl),
    fetchBytes(bundledTokenizerUrl),
  ]);
  return await llama2cModel(model, tokenizer, { model: "stories260K.bin", tokenizer: "tok512.bin" });
}

async function loadText(input: TextInput): Promise<{ name: string; text: string }> {
  if (input.kind === "file") return { name: input.file.name, text: await input.file.text() };
  const r = await fetch(bundledTextUrl);
  if (!r.ok) throw new Error(`${bundledTextUrl}: HTTP ${r.status}`);
  return { name: "tinystories_val.txt", text: await r.text() };
}

interface Chosen {
  readonly backend: ComputeBackend & { dispose?(): Promise<void> };
  readonly note: string;
}

async function webGpu(): Promise<Chosen | undefined> {
  const gpu = (self.navigator as Navigator & { gpu?: GPU }).gpu;
  if (gpu === undefined) return undefined;
  try {
    const { device, adapterInfo } = await requestGpuDevice(gpu);
    const adapter = adapterInfo.description || adapterInfo.vendor || "unknown adapter";
    const backend = createWebGpuBackend(device, { name: `webgpu (${adapter})` });
    return { backend, note: "navigator.gpu in the worker" };
  } catch {
    return undefined; // no adapter (e.g. headless without a GPU): fall back to wasm
  }
}

async function wasm(): Promise<Chosen> {
  if (isWasmThreadsSupported()) {
    // The backend lives in this worker, so its calling thread may block (lower latency than async).
    const backend = await createWasmBackendWorkers({ wait: "block" });
    return { backend, note: "shared memory across Web Workers (cross-origin isolated page)" };
  }
  try {
    return {
      backend: await createWasmBackend(),
      note: "one thread: the page is not cross-origin isolated, so no SharedArrayBuffer",
    };
  } catch (e) {
    if (e instanceof PruneError && e.code === "BACKEND_UNAVAILABLE") {
      return { backend: createCpuBackend(), note: "plain JavaScript: this browser has no WebAssembly SIMD" };
    }
    throw e;
  }
}

async function chooseBackend(choice: BackendChoice): Promise<Chosen> {
  if (choice === "js") return { backend: createCpuBackend(), note: "plain JavaScript reference" };
  if (choice === "wasm") return await wasm();
  const gpu = await webGpu();
  if (gpu !== undefined) return gpu;
  if (choice === "webgpu") {
    throw new PruneError(
      "BACKEND_UNAVAILABLE",
      "backend webgpu: this browser gives the worker no WebGPU adapter. Expected navigator.gpu with an adapter, got none; choose auto or wasm.",
    );
  }
  const w = await wasm();
  return { ...w, note: `${w.note}; no WebGPU adapter` };
}

async function run(req: RunRequest): Promise<void> {
  const t0 = performance.now();
  post({ type: "progress", progress: { stage: "load", done: 0, total: 1 } });
  const [{ backend, note }, model, text] = await Promise.all([
    chooseBackend(req.backend),
    loadModel(req.model),
    loadText(req.text),
  ]);
  post({ type: "backend", name: backend.name, note });
  post({ type: "progress", progress: { stage: "load", done: 1, total: 1 } });
  try {
    const result = await runJob(
      model,
      text,
      req.settings,
      backend,
      (progress) => post({ type: "progress", progress }),
      performance.now() - t0,
    );
    post({ type: "result", result }, [
      ...new Set([...result.files.values()].map((b) => b.buffer as ArrayBuffer)),
    ]);
  } finally {
    await model.checkpoint.close();
    await backend.dispose?.();
  }
}

self.onmessage = (event: MessageEvent<RunRequest>) => {
  run(event.data).catch((e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    post({ type: "error", message, ...(e instanceof PruneError ? { code: e.code } : {}) });
  });
};
