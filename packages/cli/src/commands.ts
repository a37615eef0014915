// ---- The four commands: inspect, prune, eval, sweep. No algorithms here: everything is composed
// from @mama-prune/pipeline, eval, model, scoring and tensor-io. ----

import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { type CpuBackendChoice, createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, escapeUntrusted, PruneError, type Sparsity } from "@mama-prune/core";
import {
  type PerplexityResult,
  type PerplexityTokenizer,
  perplexity,
  type ReportTable,
} from "@mama-prune/eval";
import {
  createCpuBackend,
  LINEAR_NAMES,
  type LlamaModel,
  loadLlama,
  parseLlamaConfig,
} from "@mama-prune/model";
import {
  type CalibrationWindows,
  calibrationWindows,
  levelLabel,
  METHOD_LABELS,
  type MeasureSweepCalibration,
  measureSweep,
  type PruneMethod,
  type PruneOptions,
  type PruneProgress,
  type PruneReport,
  prune,
  prunedCheckpointEntries,
  pruneMetadata,
  type SweepLevel,
  type SweepMethod,
  splitCalibrationText,
  sweepJsonRuns,
  sweepReportFiles,
} from "@mama-prune/pipeline";
import { type Checkpoint, type SparseFormat, writeHfCheckpoint } from "@mama-prune/tensor-io";
import { createCheckpointDirWriter } from "@mama-prune/tensor-io/node";
import {
  checkCalibrationLength,
  type ResolvedCalibrationSize,
  resolveCalibrationSize,
} from "./calibration-protocol.ts";
import { type LoadedTokenizer, type OpenModelOptions, openModel, readText, tokenizerFor } from "./inputs.ts";
import type { CliIo } from "./io.ts";
import { methodLabel, methodOptions, needsCalibration, resolveSpec } from "./method-spec.ts";
import { loadPlugins } from "./plugins.ts";
import { checkpointBytes, estimateOutputBytes, preflightOutput } from "./preflight.ts";
import { createProgress } from "./progress.ts";
import { hashingCheckpointDir, modelChecksum, PROVENANCE_FILE, provenanceJson } from "./provenance.ts";
import { pruneProvenance } from "./prune-provenance.ts";
import type { AllocationSpec, MethodSpec, OutputFormat, PluginSpec, Recipe } from "./recipe.ts";
import { parseSampleWeights } from "./sample-weights.ts";
import { outputSideFiles } from "./side-files.ts";

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
function modelOpenOptions(ctx: CommandContext): OpenModelOptions {
  return {
    lenient: ctx.lenient === true,
    warn: (message) => ctx.io.stderr(`mama-prune: warning: ${message}\n`),
  };
}

/**
 * Run `fn` with the backend of `ctx` (see {@link CommandContext.backend}); a backend created here
 * is disposed afterwards, so its worker threads never outlive the command.
 */
async function withBackend<T>(ctx: CommandContext, fn: (backend: ComputeBackend) => Promise<T>): Promise<T> {
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

function say(ctx: CommandContext, line: string): void {
  if (ctx.quiet !== true) ctx.io.stderr(`${line}\n`);
}

function abs(ctx: CommandContext, base: string | undefined, p: string): string {
  return resolve(base ?? ctx.io.cwd, p);
}

/** sha256 of a checkpoint file (undefined for a folder; `eval` uses `modelChecksum` for those). */
async function fileChecksum(path: string): Promise<string | undefined> {
  const c = await modelChecksum(path);
  return c?.startsWith("folder-") === true ? undefined : c;
}

/** Write a text file atomically (temporary file renamed into place). */
async function writeTextAtomic(path: string, text: string): Promise<void> {
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

// ---- inspect ----

/** What `inspect` reports. */
export interface InspectResult {
  readonly path: string;
  readonly format: Checkpoint["format"];
  /** Storage of the block linears: "dense", "sparse-bitmask", "sparse-24-bitmask". */
  readonly storage: string;
  readonly architecture: Readonly<Record<string, unknown>>;
  readonly parameters: number;
  readonly prunableParameters: number;
  readonly dtypes: Readonly<Record<string, number>>;
  readonly tensors: readonly {
    readonly name: string;
    readonly dtype: string;
    readonly shape: readonly number[];
    readonly parameters: number;
    readonly zeros: number;
  }[];
  /** Per decoder block: zeros / weights over its 7 linears. */
  readonly blockSparsity: readonly number[];
  /** Zeros / weights over all block linears. */
  readonly overallSparsity: number;
}

const LINEAR_RE = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.([a-z_]+)\.weight$/;

/**
 * `mama-prune inspect <checkpoint>`: architecture, tensors with dtypes and shapes, parameter counts,
 * and the sparsity of every block and overall (dense or sparse storage; sparse tensors are read
 * back as dense).
 *
 * @throws PruneError TENSOR_IO_NOT_FOUND, TENSOR_IO_MALFORMED, CONFIG_INVALID, ARCH_UNSUPPORTED, ABORTED.
 * @example
 * const r = await runInspect("data/stories260K/stories260K.bin", { io });
 */
export async function runInspect(path: string, ctx: CommandContext): Promise<InspectResult> {
  const full = abs(ctx, undefined, path);
  const ckpt = await openModel(full, modelOpenOptions(ctx));
  try {
    const cfg = parseLlamaConfig(ckpt.config, `${path} config`);
    const q = ckpt.config["quantization_config"] as Record<string, unknown> | undefined;
    const sc = q?.["sparsity_config"] as Record<string, unknown> | undefined;
    const storage = typeof sc?.["format"] === "string" ? sc["format"] : "dense";
    const tensors: InspectResult["tensors"][number][] = [];
    const dtypes: Record<string, number> = {};
    const blockZeros = new Array<number>(cfg.numLayers).fill(0);
    const blockTotal = new Array<number>(cfg.numLayers).fill(0);
    let parameters = 0;
    let prunable = 0;
    const list = ckpt.list();
    const progress = createProgress(ctx.io, "tensors read", ctx.quiet === true);
    for (const [i, t] of list.entries()) {
      if (ctx.io.signal?.aborted === true) throw new PruneError("ABORTED", "inspect: interrupted.");
      const n = t.shape.reduce((a, b) => a * b, 1);
      const data = await ckpt.readF32(t.name);
      let zeros = 0;
      for (let k = 0; k < data.length; k++) if (data[k] === 0) zeros++;
      parameters += n;
      dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
      const m = LINEAR_RE.exec(t.name);
      if (
        m !== null &&
        LINEAR_NAMES.includes(m[2] as (typeof LINEAR_NAMES)[number]) &&
        t.shape.length === 2
      ) {
        const layer = Number(m[1]);
        if (layer < cfg.numLayers) {
          prunable += n;
          blockZeros[layer] = (blockZeros[layer] ?? 0) + zeros;
          blockTotal[layer] = (blockTotal[layer] ?? 0) + n;
        }
      }
      tensors.push({ name: t.name, dtype: t.dtype, shape: t.shape, parameters: n, zeros });
      progress.update(i + 1, list.length);
    }
    progress.finish();
    const z = blockZeros.reduce((a, b) => a + b, 0);
    return {
      path,
      format: ckpt.format,
      storage,
      architecture: {
        family: cfg.family,
        layers: cfg.numLayers,
        hiddenSize: cfg.hiddenSize,
        intermediateSize: cfg.intermediateSize,
        heads: cfg.numHeads,
        kvHeads: cfg.numKvHeads,
        headDim: cfg.headDim,
        vocabSize: cfg.vocabSize,
        contextLength: cfg.maxPositionEmbeddings,
        tiedEmbeddings: cfg.tieWordEmbeddings,
      },
      parameters,
      prunableParameters: prunable,
      dtypes,
      tensors,
      blockSparsity: blockTotal.map((t, l) => (t > 0 ? (blockZeros[l] ?? 0) / t : 0)),
      overallSparsity: prunable > 0 ? z / prunable : 0,
    };
  } finally {
    await ckpt.close();
  }
}

const pct = (x: number): string => `${(100 * x).toFixed(2)} %`;

/**
 * Human-readable text of an {@link InspectResult}.
 *
 * @example
 * io.stdout(formatInspect(await runInspect(path, { io })));
 */
export function formatInspect(r: InspectResult): string {
  const a = r.architecture;
  const lines = [
    `${r.path}: ${r.format} checkpoint, block linears stored ${r.storage}`,
    `architecture: ${String(a["family"])}, ${String(a["layers"])} layers, hidden ${String(a["hiddenSize"])}, intermediate ${String(a["intermediateSize"])}, heads ${String(a["heads"])} (kv ${String(a["kvHeads"])}), vocab ${String(a["vocabSize"])}, context ${String(a["contextLength"])}${a["tiedEmbeddings"] === true ? ", tied embeddings" : ""}`,
    `parameters: ${r.parameters.toLocaleString("en")} (block linears ${r.prunableParameters.toLocaleString("en")} = ${pct(r.prunableParameters / Math.max(1, r.parameters))})`,
    `dtypes: ${Object.entries(r.dtypes)
      .map(([d, c]) => `${d} ×${c}`)
      .join(", ")}`,
    "sparsity of the block linears:",
    ...r.blockSparsity.map((s, l) => `  layer ${String(l).padStart(3)}  ${pct(s).padStart(8)}`),
    `  overall    ${pct(r.overallSparsity).padStart(8)}`,
    `tensors (${r.tensors.length}):`,
    ...r.tensors.map(
      (t) =>
        `  ${escapeUntrusted(t.name).padEnd(48)} ${escapeUntrusted(t.dtype, 16).padEnd(5)} [${t.shape.join(", ")}]${t.zeros > 0 ? `  zeros ${pct(t.zeros / Math.max(1, t.parameters))}` : ""}`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}

// ---- shared: calibration, method options ----

function toSparseFormat(f: OutputFormat): SparseFormat {
  return f === "sparse-24" ? "sparse-24-bitmask" : f;
}

function blockProgress(ctx: CommandContext, label: string): (e: PruneProgress) => void {
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
function drawCalibration(
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

async function evaluateModel(
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

// ---- prune ----

/** Everything `prune` needs (from flags or a recipe, paths already resolved). */
export interface PruneJob {
  readonly model: string;
  readonly tokenizer?: string;
  readonly pre?: string;
  /** Per-window sample weights file (`--sample-weights`, recipe `sampleWeights`). */
  readonly sampleWeights?: string;
  readonly method: MethodSpec;
  readonly sparsity: Sparsity;
  readonly allocation?: AllocationSpec;
  readonly calibration?: {
    readonly text: string;
    /** Windows drawn. Default 128 (the anchors' protocol). */
    readonly nsamples?: number;
    /** Tokens per window. Default min(2048, the model's context). */
    readonly seqlen?: number;
    readonly seed: number;
    /**
     * Draw windows only from the calibration split (the last `split` fraction of paragraphs), the
     * part that `eval --split` and sweeps leave out of evaluation. Default: the whole text.
     */
    readonly split?: number;
  };
  readonly out: string;
  readonly format: OutputFormat;
  readonly overwrite: boolean;
  readonly plugins: readonly PluginSpec[];
  /** Directory plugin packages are resolved from. */
  readonly pluginBase: string;
  /** The recipe as given (its path and parsed content), recorded in pruning.json. */
  readonly recipe?: { readonly path: string; readonly content: unknown };
}

/** What `prune` did. */
export interface PruneCommandResult {
  readonly out: string;
  readonly files: readonly string[];
  readonly report: PruneReport;
  /** The calibration size used and whether it was the default protocol (calibrated runs only). */
  readonly calibrationSize?: ResolvedCalibrationSize;
}

/**
 * `mama-prune prune`: prune a checkpoint with one method at one sparsity and write the result as a
 * Hugging Face folder (dense, sparse-bitmask or sparse-24), atomically, with the tokenizer copied
 * beside it and the prune report in config.json `mama_prune`.
 *
 * @throws PruneError every input error (TENSOR_IO_*, TOKENIZER_*, SCORER_*, SPARSITY_INVALID,
 *   CALIBRATION_INVALID, RECIPE_INVALID), TENSOR_IO_EXISTS for a non-empty output folder, ABORTED.
 * @example
 * await runPrune({ model: "m.bin", method: { name: "wanda" }, sparsity: 0.5, … }, { io });
 */
export async function runPrune(job: PruneJob, ctx: CommandContext): Promise<PruneCommandResult> {
  const inputs = [job.model, ...(job.pre !== undefined ? [job.pre] : [])];
  // Before any work: the write at the end must not fail on the output folder.
  await preflightOutput(job.out, {
    overwrite: job.overwrite,
    inputs,
    estimatedBytes: estimateOutputBytes(
      await checkpointBytes(job.model).catch(() => 0),
      job.format,
      typeof job.sparsity === "number" ? job.sparsity : job.sparsity.n / job.sparsity.m,
    ),
  });
  const registry = await loadPlugins(job.plugins, job.pluginBase);
  const ckpt = await openModel(job.model, modelOpenOptions(ctx));
  let pre: Checkpoint | undefined;
  try {
    const needCal = needsCalibration(job.method, registry, job.allocation);
    let tok: LoadedTokenizer | undefined;
    try {
      tok = await tokenizerFor(ckpt, job.model, job.tokenizer);
    } catch (e) {
      if (needCal || job.tokenizer !== undefined) throw e;
    }
    let cal: (CalibrationWindows & { readonly size: ResolvedCalibrationSize }) | undefined;
    if (needCal) {
      if (job.calibration === undefined) {
        throw new PruneError(
          "CALIBRATION_INVALID",
          `prune: method ${job.method.name}${job.allocation?.kind === "owl" ? " with OWL allocation" : ""} needs calibration text. Expected --calibration <text file> (or recipe.calibration.text), got none.`,
        );
      }
      let text = await readText(job.calibration.text, "calibration", "CALIBRATION_INVALID");
      let textName = job.calibration.text;
      if (job.calibration.split !== undefined) {
        text = splitCalibrationText(text, { calibrationFraction: job.calibration.split }).calibration;
        textName = `${textName} (calibration split)`;
      }
      cal = drawCalibration(ctx, tok!.tokenizer, text, job.calibration, ckpt.config, textName);
    }
    if (job.pre !== undefined) pre = await openModel(job.pre, modelOpenOptions(ctx));
    const sampleWeights =
      job.sampleWeights !== undefined && cal !== undefined
        ? parseSampleWeights(
            await readText(job.sampleWeights, "sample weights", "CALIBRATION_INVALID"),
            job.sampleWeights,
            cal.nsamples,
          )
        : undefined;
    const label = `${methodLabel(job.method, registry)} @ ${levelLabel(job.sparsity)}`;
    const { model, report } = await withBackend(ctx, (backend) =>
      prune({
        checkpoint: ckpt,
        backend,
        method: job.method.name,
        sparsity: job.sparsity,
        ...methodOptions(job.method, registry),
        ...(job.allocation !== undefined ? { allocation: job.allocation } : {}),
        ...(cal !== undefined ? { calibration: cal } : {}),
        ...(pre !== undefined ? { preCheckpoint: pre } : {}),
        ...(sampleWeights !== undefined ? { sampleWeights } : {}),
        onProgress: blockProgress(ctx, `${label}: blocks pruned`),
        ...(ctx.io.signal !== undefined ? { signal: ctx.io.signal } : {}),
      }),
    );
    const extraFiles = await outputSideFiles(job.model, tok?.sideFiles ?? []);
    const dir = hashingCheckpointDir(
      await createCheckpointDirWriter(job.out, { overwrite: job.overwrite, inputs }),
      PROVENANCE_FILE,
      (outputs) =>
        provenanceJson(
          pruneProvenance(job, report, {
            label: methodLabel(job.method, registry),
            lenient: ctx.lenient === true,
            ...(cal !== undefined ? { calibration: cal } : {}),
            ...(tok !== undefined ? { tokenizerPath: tok.path } : {}),
          }),
          outputs,
          ctx.io.signal,
        ),
    );
    const written = await writeHfCheckpoint(dir, {
      config: {
        ...ckpt.config,
        mama_prune: pruneMetadata(report, {
          source: basename(job.model),
          ...(cal !== undefined ? { calibration_text: basename(job.calibration!.text) } : {}),
        }),
      },
      tensors: prunedCheckpointEntries(model, ckpt),
      format: toSparseFormat(job.format),
      extraFiles,
      ...(ctx.io.signal !== undefined ? { signal: ctx.io.signal } : {}),
    });
    return {
      out: job.out,
      files: [...written.files, PROVENANCE_FILE],
      report,
      ...(cal !== undefined ? { calibrationSize: cal.size } : {}),
    };
  } finally {
    await ckpt.close();
    await pre?.close();
  }
}

/**
 * Human-readable summary of a prune.
 *
 * @example
 * io.stdout(formatPrune(await runPrune(job, { io })));
 */
export function formatPrune(r: PruneCommandResult): string {
  const rep = r.report;
  return `${[
    `pruned with ${rep.method} (scorer ${rep.scorer}, group ${rep.group}, redistribution ${rep.redistribution}) to ${typeof rep.sparsity === "number" ? pct(rep.sparsity) : rep.sparsity}`,
    `overall sparsity of the block linears: ${pct(rep.overallSparsity)} (${rep.zeros.toLocaleString("en")} of ${rep.total.toLocaleString("en")})`,
    `per block: ${rep.perBlockSparsity.map((s) => s.toFixed(3)).join(" ")}`,
    ...(rep.calibration !== undefined
      ? [
          `calibration: ${rep.calibration.protocol}${r.calibrationSize?.defaulted === true ? ` (${r.calibrationSize.description.replace(/^[^(]*\(/, "").replace(/\)$/, "")})` : ""}`,
        ]
      : []),
    ...rep.warnings.map((w) => `warning: ${escapeUntrusted(w, 400)}`),
    `wrote ${r.out} (${r.files.join(", ")}) in ${(rep.wallTimeMs / 1000).toFixed(1)} s of pruning on backend ${rep.backend}`,
  ].join("\n")}\n`;
}

// ---- eval ----

/** Everything `eval` needs. */
export interface EvalJob {
  readonly model: string;
  readonly tokenizer?: string;
  readonly text: string;
  readonly seqlen: number;
  readonly windows?: number;
  /** Evaluate only the evaluation split (the first paragraphs; prune/sweep calibrate on the rest). */
  readonly split?: number;
}

/**
 * `mama-prune eval`: perplexity of a checkpoint on a text, with its full protocol line.
 *
 * @throws PruneError TENSOR_IO_*, TOKENIZER_MISMATCH, EVAL_INVALID (empty text, bad seqlen), ABORTED.
 * @example
 * const r = await runEval({ model: "m.bin", text: "val.txt", seqlen: 256 }, { io });
 */
export async function runEval(job: EvalJob, ctx: CommandContext): Promise<PerplexityResult> {
  const ckpt = await openModel(job.model, modelOpenOptions(ctx));
  try {
    const tok = await tokenizerFor(ckpt, job.model, job.tokenizer);
    let text = await readText(job.text, "evaluation", "EVAL_INVALID");
    let name = basename(job.text);
    if (job.split !== undefined) {
      text = splitCalibrationText(text, { calibrationFraction: job.split }).evaluation;
      name = `${name} (evaluation split)`;
    }
    const checksum = await modelChecksum(job.model);
    return await withBackend(ctx, async (backend) =>
      evaluateModel(ctx, await loadLlama(ckpt, { backend }), tok.tokenizer, text, {
        seqlen: job.seqlen,
        ...(job.windows !== undefined ? { windows: job.windows } : {}),
        datasetName: name,
        label: basename(job.model),
        ...(checksum !== undefined ? { modelChecksum: checksum } : {}),
      }),
    );
  } finally {
    await ckpt.close();
  }
}

// ---- sweep ----

/** One measured (method, level, seed) of a sweep. */
export interface SweepRun {
  /** The method's name (a built-in or a plugin's). */
  readonly method: string;
  readonly label: string;
  readonly level: string;
  /** Only in sweeps with several calibration seeds, for methods that use calibration. */
  readonly seed?: number;
  readonly ppl: number;
  readonly overallSparsity: number;
  readonly pruneWallTimeMs: number;
}

/** What `sweep` produced. */
export interface SweepCommandResult {
  readonly table: ReportTable;
  /** The Markdown table as written (with the recipe's `output.digits`). */
  readonly markdown: string;
  readonly dense: number;
  readonly runs: readonly SweepRun[];
  /** Report files written (Markdown, CSV, JSON, SVG). */
  readonly files: readonly string[];
  readonly wallTimeMs: number;
}

/** Options of {@link runSweep}. */
export interface RunSweepOptions extends CommandContext {
  /** Directory the recipe's relative paths are resolved against (the recipe file's folder). */
  readonly baseDir: string;
  /** Override `recipe.output.dir` (resolved against the working directory). */
  readonly outDir?: string;
}

function requireKey<T>(v: T | undefined, key: string, what: string): T {
  if (v === undefined) {
    throw new PruneError("RECIPE_INVALID", `recipe.${key}: missing. Expected ${what}, got nothing.`);
  }
  return v;
}

/**
 * `mama-prune sweep --recipe <file>`: the dense model plus every method × level (× calibration
 * seed) of the recipe, measured by the pipeline's `measureSweep` (each run pruned from a fresh copy
 * of the checkpoint and evaluated on the evaluation text); then the paper-format table (Markdown,
 * CSV, JSON) and an SVG plot (`sweepReportFiles`) written to `output.dir`. When calibration and
 * evaluation use the same file, it is split into disjoint paragraphs (the last `calibration.split`
 * for calibration, the rest for evaluation). With several `calibration.seeds`, calibrated methods run
 * once per seed and cells show mean ± sample standard deviation.
 *
 * @throws PruneError RECIPE_INVALID (missing model/methods/levels/eval), every input error, ABORTED.
 * @example
 * const r = await runSweep(parseRecipe(text, "r.yaml"), { io, baseDir: "." });
 */
export async function runSweep(recipe: Recipe, options: RunSweepOptions): Promise<SweepCommandResult> {
  return await withBackend(options, (backend) => sweepWith(recipe, options, backend));
}

async function sweepWith(
  recipe: Recipe,
  options: RunSweepOptions,
  backend: ComputeBackend,
): Promise<SweepCommandResult> {
  const ctx: CommandContext = options;
  const base = options.baseDir;
  const modelPath = resolve(base, requireKey(recipe.model, "model", "a checkpoint path"));
  const methods = requireKey(recipe.methods, "methods", "a list of methods");
  const levels: readonly SweepLevel[] = requireKey(recipe.levels, "levels", "a list of sparsity levels");
  const evalSpec = requireKey(recipe.eval, "eval", "eval settings (text, seqlen)");
  const evalTextPath = recipe.eval?.text ?? recipe.calibration?.text;
  if (evalTextPath === undefined) {
    throw new PruneError(
      "RECIPE_INVALID",
      "recipe.eval.text: missing. Expected an evaluation text file, got nothing.",
    );
  }
  const registry = await loadPlugins(recipe.plugins ?? [], base);
  for (const m of methods) resolveSpec(m, registry);
  const ckpt = await openModel(modelPath, modelOpenOptions(ctx));
  let pre: Checkpoint | undefined;
  try {
    const tok = await tokenizerFor(
      ckpt,
      modelPath,
      recipe.tokenizer !== undefined ? resolve(base, recipe.tokenizer) : undefined,
    );
    const evalPath = resolve(base, evalTextPath);
    const evalText = await readText(evalPath, "evaluation", "EVAL_INVALID");
    const needCal = methods.some((m) => needsCalibration(m, registry, recipe.allocation));
    let calibration: MeasureSweepCalibration | undefined;
    if (recipe.calibration !== undefined && needCal) {
      const c = recipe.calibration;
      const calPath = resolve(base, c.text);
      const size = resolveCalibrationSize(c, ckpt.config, basename(modelPath));
      calibration = {
        // The same file for both: measureSweep splits it into disjoint paragraphs.
        ...(calPath === evalPath
          ? { split: c.split }
          : { text: await readText(calPath, "calibration", "CALIBRATION_INVALID") }),
        nsamples: size.nsamples,
        seqlen: size.seqlen,
        seeds: c.seeds ?? [c.seed],
      };
    } else if (needCal) {
      const m = methods.find((x) => needsCalibration(x, registry, recipe.allocation))!;
      throw new PruneError(
        "RECIPE_INVALID",
        `recipe.calibration: missing. Expected calibration settings (text, nsamples, seqlen, seed) for method ${m.name}, got nothing.`,
      );
    }
    if (recipe.pre !== undefined) pre = await openModel(resolve(base, recipe.pre), modelOpenOptions(ctx));
    const checksum = await fileChecksum(modelPath);
    let calProgress: ReturnType<typeof createProgress> | undefined;
    let drawn = 0;
    const r = await measureSweep({
      checkpoint: ckpt,
      backend,
      tokenizer: tok.tokenizer,
      methods: methods.map(
        (spec): SweepMethod => ({
          label: methodLabel(spec, registry),
          options: { method: spec.name, ...methodOptions(spec, registry) },
          usesCalibration: needsCalibration(spec, registry, recipe.allocation),
          ...(spec.pre !== undefined ? { usePreCheckpoint: spec.pre } : {}),
        }),
      ),
      levels,
      evaluation: {
        text: evalText,
        name: basename(evalPath),
        seqlen: evalSpec.seqlen,
        ...(evalSpec.windows !== undefined ? { windows: evalSpec.windows } : {}),
      },
      ...(calibration !== undefined ? { calibration } : {}),
      modelName: basename(modelPath),
      ...(checksum !== undefined ? { modelChecksum: checksum } : {}),
      ...(pre !== undefined ? { preCheckpoint: pre, preName: basename(recipe.pre!) } : {}),
      ...(recipe.allocation !== undefined ? { allocation: recipe.allocation } : {}),
      title: recipe.output?.title ?? "Perplexity of the pruned model",
      ...(ctx.io.signal !== undefined ? { signal: ctx.io.signal } : {}),
      hooks: {
        onCalibration: (c) => {
          const n = calibration?.seeds.length ?? 1;
          calProgress ??= createProgress(ctx.io, "calibration windows", ctx.quiet === true);
          calProgress.update(++drawn, n);
          if (drawn === n) calProgress.finish(`(${c.streamTokens.toLocaleString("en")}-token stream)`);
        },
        evaluation: (label) => {
          const p = createProgress(ctx.io, `${label}: eval windows`, ctx.quiet === true);
          return { onProgress: (d, t) => p.update(d, t), onDone: (e) => p.finish(`ppl ${e.ppl.toFixed(4)}`) };
        },
        pruneProgress: (label) => blockProgress(ctx, `${label}: blocks pruned`),
        onDense: (d) => say(ctx, `dense: ppl ${d.ppl.toFixed(4)}`),
        onRow: (row, at) =>
          say(
            ctx,
            `${at}: ppl ${row.value.toFixed(4)}, sparsity ${pct(row.overallSparsity)}, pruned in ${(row.pruneWallTimeMs / 1000).toFixed(1)} s`,
          ),
      },
    });
    const outDir =
      options.outDir !== undefined
        ? resolve(ctx.io.cwd, options.outDir)
        : resolve(base, recipe.output?.dir ?? "results");
    const files = sweepReportFiles(r, {
      stem: recipe.output?.name ?? "sweep",
      ...(recipe.output?.digits !== undefined ? { digits: recipe.output.digits } : {}),
    });
    await mkdir(outDir, { recursive: true });
    if (ctx.io.signal?.aborted === true)
      throw new PruneError("ABORTED", "sweep: interrupted before writing reports.");
    for (const f of files) await writeTextAtomic(join(outDir, f.name), f.text);
    return {
      table: r.table,
      markdown: files[0]!.text,
      dense: r.dense.ppl,
      runs: sweepJsonRuns(r) as SweepRun[],
      files: files.map((f) => join(outDir, f.name)),
      wallTimeMs: r.wallTimeMs,
    };
  } finally {
    await ckpt.close();
    await pre?.close();
  }
}
