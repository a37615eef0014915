// ---- `mama-prune sweep --recipe <file>`: methods × levels (× seeds) → paper-format reports ----

import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { type ComputeBackend, PruneError } from "@mama-prune/core";
import type { ReportTable } from "@mama-prune/eval";
import {
  type MeasureSweepCalibration,
  measureSweep,
  type SweepJsonRun,
  type SweepLevel,
  type SweepMethod,
  sweepJsonRuns,
  sweepReportFiles,
} from "@mama-prune/pipeline";
import type { Checkpoint } from "@mama-prune/tensor-io";
import { createCheckpointDirWriter } from "@mama-prune/tensor-io/node";
import { resolveCalibrationSize } from "../calibration-protocol.ts";
import { readText, tokenizerFor } from "../inputs.ts";
import { methodLabel, methodOptions, needsCalibration, resolveSpec } from "../method-spec.ts";
import { loadPlugins } from "../plugins.ts";
import { createProgress } from "../progress.ts";
import type { Recipe } from "../recipe.ts";
import {
  blockProgress,
  type CommandContext,
  evalProgress,
  fileChecksum,
  openModelStep,
  pct,
  say,
  step,
  stepped,
  withBackend,
  writeTextAtomic,
} from "./context.ts";

/** One measured (method, level, seed) of a sweep: the pipeline's JSON-report run. */
export type SweepRun = SweepJsonRun;

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
  /**
   * Memory budget in bytes (default 2 GiB): a model whose float32 weights exceed it is swept
   * streamed (one decoder block resident; every pruned model written to a scratch folder inside the
   * report folder, evaluated layer by layer, then deleted); smaller models stay resident.
   */
  readonly maxResidentBytes?: number;
}

/** Default of {@link RunSweepOptions.maxResidentBytes}: 2 GiB. */
export const DEFAULT_MAX_RESIDENT_BYTES: number = 2 * 1024 ** 3;

/** Bytes of a checkpoint's weights in float32 (what a resident model holds). */
export function residentBytes(ckpt: Checkpoint): number {
  return ckpt.list().reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * 4, 0);
}

const gib = (b: number): string => `${(b / 1024 ** 3).toFixed(2)} GiB`;

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
  const ckpt = await openModelStep(ctx, modelPath);
  let pre: Checkpoint | undefined;
  // The spinner of the step in flight (loading, tokenizing), ended when the next starts or on error.
  let open: { cancel(): void } | undefined;
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
    if (recipe.pre !== undefined) pre = await openModelStep(ctx, resolve(base, recipe.pre));
    const checksum = await fileChecksum(modelPath);
    const outDir =
      options.outDir !== undefined
        ? resolve(ctx.io.cwd, options.outDir)
        : resolve(base, recipe.output?.dir ?? "results");
    const budget = options.maxResidentBytes ?? DEFAULT_MAX_RESIDENT_BYTES;
    const needs = residentBytes(ckpt);
    const stream = needs > budget;
    say(
      ctx,
      stream
        ? `streamed: the model's float32 weights (${gib(needs)}) exceed --max-resident-bytes ${gib(budget)}; one block resident, pruned models in scratch folders`
        : `resident: the model's float32 weights (${gib(needs)}) fit --max-resident-bytes ${gib(budget)}`,
    );
    if (stream) await mkdir(outDir, { recursive: true });
    let calProgress: ReturnType<typeof createProgress> | undefined;
    const calStep = calibration !== undefined ? step(ctx, "tokenizing calibration text") : undefined;
    open = calStep;
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
      ...(stream
        ? {
            streaming: {
              scratch: async () => {
                const path = await mkdtemp(join(outDir, ".sweep-scratch-"));
                return {
                  dir: await createCheckpointDirWriter(path),
                  open: () => openModelStep({ ...ctx, quiet: true }, path),
                  remove: () => rm(path, { recursive: true, force: true }),
                };
              },
            },
          }
        : {}),
      hooks: {
        onCalibration: (c) => {
          if (drawn === 0) calStep?.finish();
          const n = calibration?.seeds.length ?? 1;
          calProgress ??= createProgress(ctx.io, "calibration windows", ctx.quiet === true);
          calProgress.update(++drawn, n);
          if (drawn === n) calProgress.finish(`(${c.streamTokens.toLocaleString("en")}-token stream)`);
        },
        evaluation: (label) => {
          open?.cancel();
          const p = evalProgress(ctx, label);
          open = p;
          return { onProgress: p.onProgress, onDone: p.onDone };
        },
        pruneProgress: (label) => {
          open?.cancel();
          const p = blockProgress(ctx, label);
          open = p;
          return p.onProgress;
        },
        onDense: (d) => say(ctx, `dense: ppl ${d.ppl.toFixed(4)}`),
        onRow: (row, at) =>
          say(
            ctx,
            `${at}: ppl ${row.value.toFixed(4)}, sparsity ${pct(row.overallSparsity)}, pruned in ${(row.pruneWallTimeMs / 1000).toFixed(1)} s`,
          ),
      },
    });
    const files = sweepReportFiles(r, {
      stem: recipe.output?.name ?? "sweep",
      ...(recipe.output?.digits !== undefined ? { digits: recipe.output.digits } : {}),
    });
    await mkdir(outDir, { recursive: true });
    if (ctx.io.signal?.aborted === true)
      throw new PruneError("ABORTED", "sweep: interrupted before writing reports.");
    await stepped(ctx, "writing reports", async () => {
      for (const f of files) await writeTextAtomic(join(outDir, f.name), f.text);
    });
    return {
      table: r.table,
      markdown: files[0]!.text,
      dense: r.dense.ppl,
      runs: sweepJsonRuns(r) as SweepRun[],
      files: files.map((f) => join(outDir, f.name)),
      wallTimeMs: r.wallTimeMs,
    };
  } finally {
    open?.cancel();
    await ckpt.close();
    await pre?.close();
  }
}
