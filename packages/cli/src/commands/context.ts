// ---- What every command shares: the context (io, backend, strictness), the backend's lifetime,
// messages, atomic report writes, calibration drawing and evaluation with progress. ----

import { rename, rm, writeFile } from "node:fs/promises";
import { basename, resolve } from "node:path";
import {
  CPU_BACKEND_CHOICES,
  type CpuBackendChoice,
  createDefaultCpuBackend,
} from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, PruneError } from "@mama-prune/core";
import { type PerplexityResult, type PerplexityTokenizer, perplexity } from "@mama-prune/eval";
import { createCpuBackend, type LlamaModel } from "@mama-prune/model";
import { type CalibrationWindows, calibrationWindows, type PruneProgress } from "@mama-prune/pipeline";
import type { Checkpoint } from "@mama-prune/tensor-io";
import {
  checkCalibrationLength,
  type ResolvedCalibrationSize,
  resolveCalibrationSize,
} from "../calibration-protocol.ts";
import { type OpenModelOptions, openModel } from "../inputs.ts";
import type { CliIo } from "../io.ts";
import { createProgress, type Step, startStep, withStep } from "../progress.ts";
import { modelChecksum } from "../provenance.ts";

/**
 * `--backend` values: the CPU backends (auto, wasm, js), WebGPU (a Dawn device on Node) and native
 * (onnxruntime-node's MLAS for the large matmuls, wasm for the rest; `@mama-prune/compute-native`).
 */
export type BackendChoice = CpuBackendChoice | "webgpu" | "native";

/** Every `--backend` value, in help order. */
export const BACKEND_CHOICES: readonly BackendChoice[] = [...CPU_BACKEND_CHOICES, "webgpu", "native"];

/** The `--backend` values that take `--threads`. */
export const THREADED_BACKENDS: readonly BackendChoice[] = ["auto", "wasm", "native"];

/** How a command reports: where, and whether stdout gets JSON. */
export interface CommandContext {
  readonly io: CliIo;
  /** Print one JSON object on stdout instead of human-readable text. */
  readonly json?: boolean;
  /** No progress output on stderr. */
  readonly quiet?: boolean;
  /**
   * The compute backend of every forward pass and matmul. A `ComputeBackend` is used as given (the
   * caller disposes it); a choice creates one per command and disposes it at the end: `"auto"`
   * (default) is `"native"` where it can be created (Node with onnxruntime-node installed), else the
   * threaded WebAssembly SIMD backend when available, else the plain JS one;
   * `"webgpu"` is kernels-webgpu's backend on a Dawn device (`webgpu` package; on a machine without a
   * GPU, SwiftShader through VK_ICD_FILENAMES), refused with GPU_UNAVAILABLE when no adapter is found;
   * `"native"` is compute-native's backend (onnxruntime-node for the matmuls above its threshold, wasm
   * for the rest), refused with BACKEND_UNAVAILABLE when onnxruntime-node is not installed.
   */
  readonly backend?: ComputeBackend | BackendChoice;
  /** Threads of a wasm or native backend created from a choice (default: all cores, at most 8). */
  readonly threads?: number;
  /**
   * Accept safetensors files with unused bytes or unknown entry fields (printing a warning for
   * each) instead of refusing them. Default false.
   */
  readonly lenient?: boolean;
}

/** How the commands open checkpoints: strict unless `ctx.lenient`, warnings to stderr. */
export function modelOpenOptions(ctx: CommandContext): OpenModelOptions {
  return {
    lenient: ctx.lenient === true,
    warn: (message) => warn(ctx, message),
  };
}

/** Print `mama-prune: warning: <message>` on stderr (also when quiet). */
export function warn(ctx: CommandContext, message: string): void {
  // On a terminal a spinner may be drawn: the warning replaces its line (the spinner redraws below).
  ctx.io.stderr(`${ctx.io.isTTY === true ? "\r\x1b[2K" : ""}mama-prune: warning: ${message}\n`);
}

/** Open a checkpoint (see {@link modelOpenOptions}) with an "opening <file>" spinner. */
export async function openModelStep(ctx: CommandContext, path: string): Promise<Checkpoint> {
  return await stepped(ctx, `opening ${basename(path)}`, () => openModel(path, modelOpenOptions(ctx)));
}

/**
 * Run `fn` with the backend of `ctx` (see {@link CommandContext.backend}); a backend created here
 * is disposed afterwards, so its worker threads never outlive the command.
 */
export async function withBackend<T>(
  ctx: CommandContext,
  fn: (backend: ComputeBackend) => Promise<T>,
): Promise<T> {
  if (typeof ctx.backend === "object") return await fn(ctx.backend);
  if (ctx.backend === "webgpu") return await withWebGpu(fn);
  if (ctx.backend === "native") return await withNative(ctx, fn);
  if (ctx.backend === undefined || ctx.backend === "auto") {
    // auto: native where it loads (onnxruntime-node installed, Node), else wasm, else js.
    const native = await tryNative(ctx);
    if (native !== undefined) {
      try {
        return await fn(native);
      } finally {
        await native.dispose?.();
      }
    }
  }
  const backend = await createDefaultCpuBackend({
    fallback: createCpuBackend,
    prefer: ctx.backend ?? "auto",
    ...(ctx.threads !== undefined ? { threads: ctx.threads } : {}),
  });
  try {
    return await fn(backend);
  } finally {
    await backend.dispose();
  }
}

async function withWebGpu<T>(fn: (backend: ComputeBackend) => Promise<T>): Promise<T> {
  const { createNodeGpu } = await import("@mama-prune/kernels-webgpu/node");
  const { createWebGpuBackend } = await import("@mama-prune/kernels-webgpu");
  let gpu: Awaited<ReturnType<typeof createNodeGpu>>;
  try {
    gpu = await createNodeGpu();
  } catch (e) {
    // One line: what was asked, why it failed, how to get a device.
    const why = (e as Error).message.replace(/\s*\n\s*/g, " ");
    throw new PruneError("GPU_UNAVAILABLE", `--backend webgpu: no WebGPU device. ${why}`, { cause: e });
  }
  const backend = createWebGpuBackend(gpu.device);
  try {
    return await fn(backend);
  } finally {
    await backend.dispose?.();
    await gpu.dispose();
  }
}

/**
 * `auto`'s first choice: compute-native's backend, or undefined when it cannot be created here (the
 * package or onnxruntime-node missing, no WebAssembly SIMD for its delegate, …): `auto` then takes the
 * CPU backends as before. `MAMA_PRUNE_NO_NATIVE=1` in the environment skips it (auto = wasm).
 */
async function tryNative(ctx: CommandContext): Promise<ComputeBackend | undefined> {
  if (process.env["MAMA_PRUNE_NO_NATIVE"] === "1") return undefined;
  try {
    const mod = await import("@mama-prune/compute-native/node");
    return await mod.createNativeBackend(ctx.threads !== undefined ? { threads: ctx.threads } : {});
  } catch {
    return undefined;
  }
}

async function withNative<T>(ctx: CommandContext, fn: (backend: ComputeBackend) => Promise<T>): Promise<T> {
  // Loaded on demand, so the other backends never load it (nor onnxruntime-node).
  let mod: typeof import("@mama-prune/compute-native/node");
  try {
    mod = await import("@mama-prune/compute-native/node");
  } catch (e) {
    throw new PruneError(
      "BACKEND_UNAVAILABLE",
      `--backend native: the @mama-prune/compute-native package could not be loaded (${String(e).split("\n")[0]?.slice(0, 200)}). Expected it installed with its peer (npm install @mama-prune/compute-native onnxruntime-node@1.30.0), got none; or use --backend wasm.`,
      { cause: e },
    );
  }
  let backend: Awaited<ReturnType<typeof mod.createNativeBackend>>;
  try {
    backend = await mod.createNativeBackend(ctx.threads !== undefined ? { threads: ctx.threads } : {});
  } catch (e) {
    if (e instanceof PruneError) throw new PruneError(e.code, `--backend native: ${e.message}`, { cause: e });
    throw e;
  }
  try {
    return await fn(backend);
  } finally {
    await backend.dispose();
  }
}

export function say(ctx: CommandContext, line: string): void {
  if (ctx.quiet !== true) ctx.io.stderr(`${line}\n`);
}

export function abs(ctx: CommandContext, base: string | undefined, p: string): string {
  return resolve(base ?? ctx.io.cwd, p);
}

/** sha256 of a checkpoint file (undefined for a folder; `eval` uses `modelChecksum` for those). */
export async function fileChecksum(path: string): Promise<string | undefined> {
  const c = await modelChecksum(path);
  return c?.startsWith("folder-") === true ? undefined : c;
}

/** Write a text file atomically (temporary file renamed into place). */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.partial-${process.pid}`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new PruneError(
      "TENSOR_IO_WRITE_FAILED",
      `${path}: cannot write the report (${String(e).slice(0, 120)}).`,
      {
        cause: e,
      },
    );
  }
}

/** A percentage with two decimals: `12.50 %`. */
export const pct = (x: number): string => `${(100 * x).toFixed(2)} %`;

/** A spinner step of the command (nothing when quiet or off a terminal). */
export function step(ctx: CommandContext, label: string): Step {
  return startStep(ctx.io, label, ctx.quiet === true);
}

/** Run `fn` as a spinner step of the command (see {@link step}). */
export async function stepped<T>(ctx: CommandContext, label: string, fn: () => Promise<T>): Promise<T> {
  return await withStep(ctx.io, label, ctx.quiet === true, fn);
}

/** Progress of one prune: a "loading model" spinner until the first event, then the block bar. */
export interface PruneProgressReporter {
  readonly onProgress: (e: PruneProgress) => void;
  /** End the spinner if no event came (the prune failed before its first block). */
  readonly cancel: () => void;
}

/** `label`: the run (`Wanda @ 50%`); the bars read `<label>: blocks pruned`. */
export function blockProgress(ctx: CommandContext, label: string): PruneProgressReporter {
  const loading = step(ctx, `${label}: loading model`);
  const p = createProgress(ctx.io, `${label}: blocks pruned`, ctx.quiet === true);
  const owl = createProgress(ctx.io, `${label}: blocks pruned (OWL pre-pass)`, ctx.quiet === true);
  return {
    onProgress: (e) => {
      loading.finish();
      if (e.stage === "owl") {
        owl.update(e.done, e.total);
        if (e.done === e.total) owl.finish();
      } else if (e.stage === "block") p.update(e.done, e.total);
      else if (e.stage === "done") p.finish();
    },
    cancel: () => loading.cancel(),
  };
}

/** Progress of one evaluation: a "tokenizing" spinner until the first window, then the window bar. */
export interface EvalProgressReporter {
  readonly onProgress: (done: number, total: number) => void;
  readonly onDone: (r: PerplexityResult) => void;
  readonly cancel: () => void;
}

export function evalProgress(ctx: CommandContext, label: string): EvalProgressReporter {
  const tokenizing = step(ctx, `${label}: tokenizing evaluation text`);
  const p = createProgress(ctx.io, `${label}: eval windows`, ctx.quiet === true);
  return {
    onProgress: (d, t) => {
      tokenizing.finish();
      p.update(d, t);
    },
    onDone: (r) => {
      tokenizing.finish();
      p.finish(`ppl ${r.ppl.toFixed(4)}`);
    },
    cancel: () => tokenizing.cancel(),
  };
}

/**
 * Draw the calibration windows: nsamples/seqlen as given, else the anchors' protocol (128 ×
 * min(2048, the model's context)); a text too short for that many disjoint windows is an error.
 */
export function drawCalibration(
  ctx: CommandContext,
  tokenizer: PerplexityTokenizer,
  text: string,
  c: { nsamples?: number | undefined; seqlen?: number | undefined; seed: number },
  modelConfig: Readonly<Record<string, unknown>>,
  textName: string,
): CalibrationWindows & { readonly size: ResolvedCalibrationSize } {
  const size = resolveCalibrationSize(c, modelConfig, "model");
  const tokenizing = step(ctx, "tokenizing calibration text");
  let tokens: ReturnType<PerplexityTokenizer["encode"]>;
  try {
    tokens = tokenizer.encode(text, { bos: false, eos: false });
    tokenizing.finish();
  } finally {
    tokenizing.cancel();
  }
  const p = createProgress(ctx.io, "calibration windows", ctx.quiet === true);
  p.update(0, size.nsamples);
  checkCalibrationLength(tokens.length, size.nsamples, size.seqlen, textName);
  const w = calibrationWindows(tokens, { nsamples: size.nsamples, seqlen: size.seqlen, seed: c.seed });
  p.update(size.nsamples, size.nsamples);
  p.finish(`(${tokens.length.toLocaleString("en")}-token stream)`);
  say(ctx, `calibration ${size.description}, seed ${c.seed}`);
  return { ...w, size };
}

export async function evaluateModel(
  ctx: CommandContext,
  model: LlamaModel,
  tokenizer: PerplexityTokenizer,
  text: string,
  o: { seqlen: number; windows?: number; datasetName: string; label: string; modelChecksum?: string },
): Promise<PerplexityResult> {
  const p = evalProgress(ctx, o.label);
  try {
    const r = await perplexity(model, tokenizer, text, {
      seqlen: o.seqlen,
      ...(o.windows !== undefined ? { maxWindows: o.windows } : {}),
      datasetName: o.datasetName,
      backendName: model.backend.name,
      ...(o.modelChecksum !== undefined ? { modelChecksum: o.modelChecksum } : {}),
      onProgress: p.onProgress,
      ...(ctx.io.signal !== undefined ? { signal: ctx.io.signal } : {}),
    });
    p.onDone(r);
    return r;
  } finally {
    p.cancel();
  }
}
