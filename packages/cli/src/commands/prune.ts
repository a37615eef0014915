// ---- `mama-prune prune`: one method at one sparsity, written as a Hugging Face folder ----

import { basename } from "node:path";
import { escapeUntrusted, PruneError, type Sparsity } from "@mama-prune/core";
import {
  type CalibrationWindows,
  levelLabel,
  type PruneReport,
  pruneToCheckpoint,
  splitCalibrationText,
} from "@mama-prune/pipeline";
import { nodeGarbageCollector } from "@mama-prune/pipeline/node";
import type { Checkpoint, SparseFormat } from "@mama-prune/tensor-io";
import { createCheckpointDirWriter } from "@mama-prune/tensor-io/node";
import type { ResolvedCalibrationSize } from "../calibration-protocol.ts";
import { type LoadedTokenizer, readText, tokenizerFor } from "../inputs.ts";
import { methodLabel, methodOptions, needsCalibration } from "../method-spec.ts";
import { checkPruneOutputFormat } from "../output-format-check.ts";
import { loadPlugins } from "../plugins.ts";
import { checkpointBytes, estimateOutputBytes, preflightOutput } from "../preflight.ts";
import { hashingCheckpointDir, PROVENANCE_FILE, provenanceJson } from "../provenance.ts";
import { pruneProvenance } from "../prune-provenance.ts";
import type { AllocationSpec, MethodSpec, OutputFormat, PluginSpec } from "../recipe.ts";
import { parseSampleWeights } from "../sample-weights.ts";
import { sourceShardOf } from "../shard-plan.ts";
import { outputSideFiles } from "../side-files.ts";
import {
  blockProgress,
  type CommandContext,
  drawCalibration,
  openModelStep,
  pct,
  step,
  warn,
  withBackend,
} from "./context.ts";

function toSparseFormat(f: OutputFormat): SparseFormat {
  return f === "sparse-24" ? "sparse-24-bitmask" : f;
}

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
  const ckpt = await openModelStep(ctx, job.model);
  let pre: Checkpoint | undefined;
  try {
    checkPruneOutputFormat(job.format, job.sparsity, ckpt.config, job.model);
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
    if (job.pre !== undefined) pre = await openModelStep(ctx, job.pre);
    const sampleWeights =
      job.sampleWeights !== undefined && cal !== undefined
        ? parseSampleWeights(
            await readText(job.sampleWeights, "sample weights", "CALIBRATION_INVALID"),
            job.sampleWeights,
            cal.nsamples,
          )
        : undefined;
    const label = `${methodLabel(job.method, registry)} @ ${levelLabel(job.sparsity)}`;
    const progress = blockProgress(ctx, label);
    let writing: ReturnType<typeof step> | undefined;
    const extraFiles = await outputSideFiles(job.model, tok?.sideFiles ?? [], {
      modelConfig: ckpt.config,
      ...(tok !== undefined ? { tokenizerPath: tok.path } : {}),
      warn: (m) => warn(ctx, m),
    });
    const shardOf = await sourceShardOf(job.model, ckpt);
    let reportForProvenance: PruneReport | undefined;
    const dir = hashingCheckpointDir(
      await createCheckpointDirWriter(job.out, { overwrite: job.overwrite, inputs }),
      PROVENANCE_FILE,
      (outputs) =>
        provenanceJson(
          pruneProvenance(job, reportForProvenance!, {
            label: methodLabel(job.method, registry),
            lenient: ctx.lenient === true,
            ...(cal !== undefined ? { calibration: cal } : {}),
            ...(tok !== undefined ? { tokenizerPath: tok.path } : {}),
          }),
          outputs,
          ctx.io.signal,
        ),
    );
    // Streaming: one decoder block resident at a time, each pruned block written as soon as it is
    // done, in the source's dtype and sharding (pruneToCheckpoint; same result as the in-memory prune).
    const { report, written } = await withBackend(ctx, async (backend) => {
      // The provenance file is written at commit, after the report (onReport) is final.
      const r = await pruneToCheckpoint(dir, {
        checkpoint: ckpt,
        backend,
        method: job.method.name,
        sparsity: job.sparsity,
        ...methodOptions(job.method, registry),
        ...(job.allocation !== undefined ? { allocation: job.allocation } : {}),
        ...(cal !== undefined ? { calibration: cal } : {}),
        ...(pre !== undefined ? { preCheckpoint: pre } : {}),
        ...(sampleWeights !== undefined ? { sampleWeights } : {}),
        // Node's gc() at the run's memory boundaries (process-wide --expose-gc; see nodeGarbageCollector).
        collectGarbage: nodeGarbageCollector(),
        onProgress: (e) => {
          progress.onProgress(e);
          if (e.stage === "done") writing = step(ctx, `writing ${basename(job.out)}`);
        },
        ...(ctx.io.signal !== undefined ? { signal: ctx.io.signal } : {}),
        format: toSparseFormat(job.format),
        metadata: {
          source: basename(job.model),
          ...(cal !== undefined ? { calibration_text: basename(job.calibration!.text) } : {}),
        },
        extraFiles,
        ...(shardOf !== undefined ? { shardOf } : {}),
        onReport: (rep) => {
          reportForProvenance = rep;
        },
      });
      return r;
    });
    writing?.finish();
    progress.cancel();
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
