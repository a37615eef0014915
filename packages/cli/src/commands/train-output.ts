// ---- What the training commands (distill, grpo) share: reading the inputs, progress with loss and
// ETA, the mask check, perplexity before/after, the folder writer (atomic, side files, training.json
// provenance) and the summary lines ----

import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { ComputeBackend } from "@mama-prune/core";
import { PruneError } from "@mama-prune/core";
import {
  getParam,
  type LlamaParams,
  masksFromZeros,
  type ParamMasks,
  paramEntries,
  paramShapes,
  paramsFromCheckpoint,
  paramsToModel,
} from "@mama-prune/distill";
import type { PerplexityResult } from "@mama-prune/eval";
import { splitCalibrationText } from "@mama-prune/pipeline";
import {
  type Checkpoint,
  isBlockLinear,
  type SideFile,
  type SparseFormat,
  writeHfCheckpoint,
} from "@mama-prune/tensor-io";
import { createCheckpointDirWriter } from "@mama-prune/tensor-io/node";
import { type LoadedTokenizer, readText, tokenizerFor } from "../inputs.ts";
import { checkpointBytes, preflightOutput } from "../preflight.ts";
import { etaMs, formatDuration } from "../progress.ts";
import { hashingCheckpointDir, PROVENANCE_FILE, provenanceRecordJson } from "../provenance.ts";
import type { OutputFormat } from "../recipe.ts";
import { outputSideFiles, TRAINING_PROVENANCE_FILE } from "../side-files.ts";
import { CLI_VERSION } from "../version.ts";
import { type CommandContext, evaluateModel, openModelStep, pct, stepped, warn } from "./context.ts";

// ---- inputs ----

/** Check the output folder before any work: not an input, empty (or `overwrite`), room for `model`'s size. */
export async function preflightTrained(
  folder: TrainedFolderSpec,
  inputs: readonly string[],
  model: string,
): Promise<void> {
  await preflightOutput(folder.out, {
    overwrite: folder.overwrite,
    inputs: [...inputs],
    estimatedBytes: await checkpointBytes(model).catch(() => 0),
  });
}

/** Open the checkpoint at `path`, run `fn` on it, and close it (also when `fn` throws). */
export async function withCheckpoint<T>(
  ctx: CommandContext,
  path: string,
  fn: (ckpt: Checkpoint) => Promise<T>,
): Promise<T> {
  const ckpt = await openModelStep(ctx, path);
  try {
    return await fn(ckpt);
  } finally {
    await ckpt.close();
  }
}

/** Read the trainable params of an open checkpoint as the step `label`. */
export async function readParams(ctx: CommandContext, ckpt: Checkpoint, label: string): Promise<LlamaParams> {
  return await stepped(ctx, label, () => paramsFromCheckpoint(ckpt, ctx.io.signal));
}

/**
 * The model to train: its tokenizer (`tokenizer`, else found beside it), then `check` of the open
 * checkpoint (may throw), then its params read as the step `label`.
 */
export async function readTrainModel(
  ctx: CommandContext,
  path: string,
  tokenizer: string | undefined,
  label: string,
  check?: (ckpt: Checkpoint) => void,
): Promise<{ tok: LoadedTokenizer; params: LlamaParams }> {
  return await withCheckpoint(ctx, path, async (ckpt) => {
    const tok = await tokenizerFor(ckpt, path, tokenizer);
    check?.(ckpt);
    return { tok, params: await readParams(ctx, ckpt, label) };
  });
}

// ---- progress ----

/** Progress of a training loop: one line per step on a terminal, every tenth off it. */
export interface TrainProgress {
  /** Step `step` of `steps` is done; `summary` is its numbers (`loss 2.3456`). */
  update(step: number, steps: number, summary: string): void;
  finish(): void;
}

/**
 * `label: step 10/100  loss 2.3456  elapsed 3.2 s  ETA 28.8 s` — redrawn in place on a terminal
 * (at most every 100 ms), else printed for the first step, every tenth of the run and the last.
 */
export function trainProgress(ctx: CommandContext, label: string): TrainProgress {
  const io = ctx.io;
  const clock = io.clock ?? (() => performance.now());
  const start = clock();
  let last = Number.NEGATIVE_INFINITY;
  let drawn = false;
  let lastTenth = -1;
  return {
    update(step, steps, summary) {
      if (ctx.quiet === true) return;
      const now = clock();
      const eta = etaMs(step, steps, now - start);
      const line = `${label}: step ${step}/${steps}  ${summary}  elapsed ${formatDuration(now - start)}${eta !== undefined ? `  ETA ${formatDuration(eta)}` : ""}`;
      if (io.isTTY === true) {
        if (now - last < 100 && step < steps) return;
        last = now;
        drawn = true;
        io.stderr(`\r\x1b[2K${line}`);
        return;
      }
      const tenth = Math.floor((10 * step) / steps);
      if (step === 1 || step === steps || tenth > lastTenth) {
        lastTenth = tenth;
        io.stderr(`${line}\n`);
      }
    },
    finish() {
      if (drawn) io.stderr("\n");
      drawn = false;
    },
  };
}

// ---- masks ----

/** Zeros of the block linears before and after training, and masked weights that moved. */
export interface MaskCheck {
  readonly zerosBefore: number;
  readonly zerosAfter: number;
  readonly total: number;
  readonly sparsityBefore: number;
  readonly sparsityAfter: number;
  /** Pruned (masked) weights that are no longer exactly zero: 0 when the masks were kept. */
  readonly masksBroken: number;
}

function blockLinearZeros(params: LlamaParams): { zeros: number; total: number } {
  let zeros = 0;
  let total = 0;
  for (const [name, shape] of paramShapes(params.config)) {
    if (!isBlockLinear(name, shape)) continue;
    const t = getParam(params, name);
    total += t.length;
    for (let i = 0; i < t.length; i++) if (t[i] === 0) zeros++;
  }
  return { zeros, total };
}

/**
 * Check, bit for bit, that every weight that was zero before training (`before`, from
 * `masksFromZeros` of the start) is still exactly zero, and count the zeros before and after.
 *
 * @throws PruneError MASK_INVALID when a pruned weight moved (the training broke its masks).
 */
export function checkMasks(
  where: string,
  params: LlamaParams,
  before: ParamMasks,
  zerosBefore: number,
): MaskCheck {
  let broken = 0;
  let firstBroken = "";
  for (const [name, m] of before) {
    const t = getParam(params, name);
    for (let i = 0; i < m.length; i++) {
      if (m[i] === 0 && t[i] !== 0) {
        if (broken === 0) firstBroken = `${name}[${i}]`;
        broken++;
      }
    }
  }
  const { zeros, total } = blockLinearZeros(params);
  if (broken > 0) {
    throw new PruneError(
      "MASK_INVALID",
      `${where}: ${broken} pruned weights are no longer zero (first ${firstBroken}). Expected the student's zeros kept, got them trained.`,
    );
  }
  return {
    zerosBefore,
    zerosAfter: zeros,
    total,
    sparsityBefore: total === 0 ? 0 : zerosBefore / total,
    sparsityAfter: total === 0 ? 0 : zeros / total,
    masksBroken: broken,
  };
}

/** The start of {@link checkMasks}: the keep-masks and the count of zeros before training. */
export function startMasks(params: LlamaParams): { masks: ParamMasks; zeros: number } {
  return { masks: masksFromZeros(params), zeros: blockLinearZeros(params).zeros };
}

// ---- evaluation ----

/** Perplexity before/after training on an evaluation text. */
export interface TrainEvalSpec {
  readonly text: string;
  readonly seqlen: number;
  readonly windows?: number;
  /** Evaluate only the evaluation split (the first 1 − split of paragraphs). */
  readonly split?: number;
}

/** An evaluation spec with its text read (its evaluation split with `spec.split`) and named. */
export interface TrainEval {
  readonly spec: TrainEvalSpec;
  readonly text: string;
  readonly name: string;
}

/** Read the evaluation text of `spec`; undefined without one. */
export async function evalText(spec: TrainEvalSpec | undefined): Promise<TrainEval | undefined> {
  if (spec === undefined) return undefined;
  let text = await readText(spec.text, "evaluation", "EVAL_INVALID");
  let name = basename(spec.text);
  if (spec.split !== undefined) {
    text = splitCalibrationText(text, { calibrationFraction: spec.split }).evaluation;
    name = `${name} (evaluation split)`;
  }
  return { spec, text, name };
}

/** Perplexity of `params` on the evaluation text (a snapshot model on `backend`); undefined without one. */
export async function evaluateParams(
  ctx: CommandContext,
  params: LlamaParams,
  backend: ComputeBackend,
  tok: LoadedTokenizer,
  ev: TrainEval | undefined,
  label: string,
): Promise<PerplexityResult | undefined> {
  if (ev === undefined) return undefined;
  const model = await paramsToModel(params, { backend });
  return await evaluateModel(ctx, model, tok.tokenizer, ev.text, {
    seqlen: ev.spec.seqlen,
    ...(ev.spec.windows !== undefined ? { windows: ev.spec.windows } : {}),
    datasetName: ev.name,
    label,
  });
}

/** Perplexity before and after, when both were measured. */
export type BeforeAfter = { readonly before: PerplexityResult; readonly after: PerplexityResult };

/** The perplexities and protocols of a before/after pair (training.json, --json output). */
export function pplRecord(e: BeforeAfter): {
  before: { ppl: number; protocol: string };
  after: { ppl: number; protocol: string };
} {
  return {
    before: { ppl: e.before.ppl, protocol: e.before.protocol },
    after: { ppl: e.after.ppl, protocol: e.after.protocol },
  };
}

/** `{ eval: { before, after } }` when both were measured, else `{}` (for a command's result). */
export function evalResult(
  before: PerplexityResult | undefined,
  after: PerplexityResult | undefined,
): { eval?: BeforeAfter } {
  return before !== undefined && after !== undefined ? { eval: { before, after } } : {};
}

// ---- writing ----

/** Where and how a trained model is written. */
export interface TrainedFolderSpec {
  readonly out: string;
  readonly overwrite: boolean;
  readonly format: OutputFormat;
}

/** The provenance records of the model folder (`pruning.json`, `training.json`) that was trained. */
export async function sourceProvenance(modelPath: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [key, file] of [
    ["pruning", PROVENANCE_FILE],
    ["training", TRAINING_PROVENANCE_FILE],
  ] as const) {
    const text = await readFile(join(modelPath, file), "utf8").catch(() => undefined);
    if (text === undefined) continue;
    try {
      out[key] = JSON.parse(text) as unknown;
    } catch {
      out[key] = `unreadable ${file}`;
    }
  }
  return out;
}

/** The optional inputs of a training run: the evaluation text (`evalPath`) and the recipe. */
export function optionalInputs(
  evalPath: string | undefined,
  recipe: { readonly path: string } | undefined,
): { role: string; path: string }[] {
  return [
    ...(evalPath !== undefined ? [{ role: "eval", path: evalPath }] : []),
    ...(recipe !== undefined ? [{ role: "recipe", path: recipe.path }] : []),
  ];
}

/**
 * The end of a training.json record: `eval` (perplexities and protocols, or null), `backend`,
 * `recipe` (when one was used) and `source` (the trained folder's own provenance).
 */
export async function provenanceTail(o: {
  readonly before: PerplexityResult | undefined;
  readonly after: PerplexityResult | undefined;
  readonly backend: string;
  readonly recipe: { readonly path: string; readonly content: unknown } | undefined;
  readonly modelPath: string;
}): Promise<Record<string, unknown>> {
  const { before, after } = o;
  return {
    eval: before !== undefined && after !== undefined ? pplRecord({ before, after }) : null,
    backend: o.backend,
    ...(o.recipe !== undefined ? { recipe: o.recipe } : {}),
    source: await sourceProvenance(o.modelPath),
  };
}

function toSparseFormat(f: OutputFormat): SparseFormat {
  return f === "sparse-24" ? "sparse-24-bitmask" : f;
}

/**
 * Write trained params as a Hugging Face folder the way `prune` writes: staged and renamed into
 * place atomically, with the input folder's side files and the tokenizer (plus an equivalent
 * tokenizer.json for a llama2.c one), `configKey` in config.json, extra files, and
 * `training.json` (the record `head`, then the sha256 of every input and output file).
 *
 * @returns the files written, training.json last.
 */
export async function writeTrainedFolder(
  ctx: CommandContext,
  o: {
    readonly command: string;
    readonly folder: TrainedFolderSpec;
    readonly params: LlamaParams;
    readonly modelPath: string;
    readonly tokenizer: LoadedTokenizer;
    readonly configExtra: Readonly<Record<string, unknown>>;
    readonly extraFiles?: readonly SideFile[];
    readonly inputs: readonly { readonly role: string; readonly path: string }[];
    readonly head: Readonly<Record<string, unknown>>;
  },
): Promise<string[]> {
  const { folder, params } = o;
  const side = await outputSideFiles(o.modelPath, o.tokenizer.sideFiles, {
    modelConfig: params.hfConfig,
    tokenizerPath: o.tokenizer.path,
    warn: (m) => warn(ctx, m),
  });
  const dir = hashingCheckpointDir(
    await createCheckpointDirWriter(folder.out, {
      overwrite: folder.overwrite,
      inputs: o.inputs.map((i) => i.path),
    }),
    TRAINING_PROVENANCE_FILE,
    (outputs) =>
      provenanceRecordJson(
        { tool: { name: "@mama-prune/cli", version: CLI_VERSION }, ...o.head },
        o.inputs,
        outputs,
        ctx.io.signal,
        o.command,
      ),
  );
  const { quantization_config: _dropped, ...config } = params.hfConfig;
  const written = await stepped(ctx, `writing ${basename(folder.out)}`, () =>
    writeHfCheckpoint(dir, {
      config: { ...config, ...o.configExtra, torch_dtype: "float32" },
      tensors: paramEntries(params),
      format: toSparseFormat(folder.format),
      extraFiles: [...side, ...(o.extraFiles ?? [])],
      ...(ctx.io.signal !== undefined ? { signal: ctx.io.signal } : {}),
    }),
  );
  return [...written.files, TRAINING_PROVENANCE_FILE];
}

// ---- summary ----

/** Mean of the first and last tenth (at least one value) of a series. */
export function ends(xs: readonly number[]): { first: number; last: number } {
  const k = Math.max(1, Math.floor(xs.length / 10));
  const mean = (a: readonly number[]): number => a.reduce((s, x) => s + x, 0) / a.length;
  return { first: mean(xs.slice(0, k)), last: mean(xs.slice(-k)) };
}

/** The sparsity line of a training command's summary. */
export function sparsityLine(s: MaskCheck): string {
  return `sparsity of the block linears: ${pct(s.sparsityBefore)} before, ${pct(s.sparsityAfter)} after (${s.zerosAfter.toLocaleString("en")} of ${s.total.toLocaleString("en")} zero; every pruned weight still exactly 0)`;
}

/**
 * A training command's summary: `head`, the sparsity line, perplexity before → after, `extra`
 * lines, the training protocol and what was written.
 */
export function formatTrained(
  r: {
    readonly out: string;
    readonly files: readonly string[];
    readonly report: { readonly protocol: string; readonly elapsedMs: number };
    readonly sparsity: MaskCheck;
    readonly eval?: BeforeAfter;
    readonly backend: string;
  },
  head: string,
  extra: readonly string[] = [],
): string {
  return `${[
    head,
    sparsityLine(r.sparsity),
    ...(r.eval !== undefined
      ? [
          `perplexity ${r.eval.before.ppl.toFixed(4)} → ${r.eval.after.ppl.toFixed(4)} on ${r.eval.after.dataset.name}`,
        ]
      : []),
    ...extra,
    r.report.protocol,
    `wrote ${r.out} (${r.files.join(", ")}) in ${(r.report.elapsedMs / 1000).toFixed(1)} s of training on backend ${r.backend}`,
  ].join("\n")}\n`;
}
