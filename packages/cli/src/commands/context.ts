// ---- What every command shares: the context (io, backend, strictness), the backend's lifetime,
// messages, atomic report writes, calibration drawing and evaluation with progress. ----

import { rename, rm, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { type CpuBackendChoice, createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, PruneError } from "@mama-prune/core";
import { type PerplexityResult, type PerplexityTokenizer, perplexity } from "@mama-prune/eval";
import { createCpuBackend, type LlamaModel } from "@mama-prune/model";
import { type CalibrationWindows, calibrationWindows, type PruneProgress } from "@mama-prune/pipeline";
import {
  checkCalibrationLength,
  type ResolvedCalibrationSize,
  resolveCalibrationSize,
} from "../calibration-protocol.ts";
import type { OpenModelOptions } from "../inputs.ts";
import type { CliIo } from "../io.ts";
import { createProgress } from "../progress.ts";
import { modelChecksum } from "../provenance.ts";

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
   * (default) is the threaded WebAssembly SIMD backend when available, else the plain JS one.
   */
  readonly backend?: ComputeBackend | CpuBackendChoice;
  /** Threads of a wasm backend created from a choice (default: all cores, at most 8). */
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
    warn: (message) => ctx.io.stderr(`mama-prune: warning: ${message}\n`),
  };
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

export function blockProgress(ctx: CommandContext, label: string): (e: PruneProgress) => void {
  const p = createProgress(ctx.io, label, ctx.quiet === true);
  const owl = createProgress(ctx.io, `${label} (OWL pre-pass)`, ctx.quiet === true);
  return (e) => {
    if (e.stage === "owl") {
      owl.update(e.done, e.total);
      if (e.done === e.total) owl.finish();
    } else if (e.stage === "block") p.update(e.done, e.total);
    else if (e.stage === "done") p.finish();
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
  const p = createProgress(ctx.io, "calibration windows", ctx.quiet === true);
  p.update(0, size.nsamples);
  const tokens = tokenizer.encode(text, { bos: false, eos: false });
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
  const p = createProgress(ctx.io, `${o.label}: eval windows`, ctx.quiet === true);
  const r = await perplexity(model, tokenizer, text, {
    seqlen: o.seqlen,
    ...(o.windows !== undefined ? { maxWindows: o.windows } : {}),
    datasetName: o.datasetName,
    backendName: model.backend.name,
    ...(o.modelChecksum !== undefined ? { modelChecksum: o.modelChecksum } : {}),
    onProgress: (d, t) => p.update(d, t),
    ...(ctx.io.signal !== undefined ? { signal: ctx.io.signal } : {}),
  });
  p.finish(`ppl ${r.ppl.toFixed(4)}`);
  return r;
}
