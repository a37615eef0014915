// The paper's Table 1 (prune by weights vs -weights) and Table 2 (Wanda, SparseGPT, magnitude, MAMA),
// measured with @mama-prune/pipeline on any Llama checkpoint, text and tokenizer.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ComputeBackend } from "@mama-prune/core";
import { cachingTokenizer, type PerplexityTokenizer, perplexity } from "@mama-prune/eval";
import { type LlamaModel, loadLlama } from "@mama-prune/model";
import {
  calibrationWindows,
  levelLabel,
  METHOD_LABELS,
  type PruneMethod,
  type PruneOptions,
  prune,
  type SweepLevel,
  type SweepRow,
  splitCalibrationText,
  sweep,
} from "@mama-prune/pipeline";
import type { Checkpoint } from "@mama-prune/tensor-io";

export interface TablesSetup {
  readonly checkpoint: Checkpoint;
  readonly tokenizer: PerplexityTokenizer;
  /** The whole text; split into evaluation (first paragraphs) and calibration (last paragraphs). */
  readonly text: string;
  readonly datasetName: string;
  readonly calibrationFraction?: number;
  readonly calibration: { readonly nsamples: number; readonly seqlen: number; readonly seed: number };
  readonly evaluation: { readonly seqlen: number; readonly maxWindows: number };
  /** Levels other than 0 (level 0 is the dense model, measured once). */
  readonly levels: readonly SweepLevel[];
  readonly methods?: readonly PruneMethod[];
  /** Compute backend of every forward pass and prune (default: the model package's JS backend). */
  readonly backend?: ComputeBackend;
  /** sha256 of the checkpoint bytes, for the protocol line (default: "checksum unknown"). */
  readonly modelChecksum?: string;
  /** Extra prune options for every run. */
  readonly prune?: Partial<
    Omit<PruneOptions, "method" | "sparsity" | "model" | "checkpoint" | "calibration">
  >;
  readonly log?: (line: string) => void;
}

export interface TableData {
  readonly title: string;
  readonly protocol: string;
  readonly columns: readonly string[];
  readonly methods: readonly PruneMethod[];
  /** One row per level; values in column order (perplexity). */
  readonly rows: readonly { readonly level: string; readonly values: readonly number[] }[];
}

export interface TablesResult {
  readonly protocol: string;
  readonly dense: number;
  readonly table1: TableData;
  readonly table2: TableData;
  readonly runs: readonly {
    readonly method: PruneMethod;
    readonly level: string;
    readonly ppl: number;
    readonly overallSparsity: number;
    readonly pruneWallTimeMs: number;
  }[];
  readonly checks: Readonly<Record<string, boolean | string>>;
  readonly wallTimeMs: number;
}

function withBackend(setup: { readonly backend?: ComputeBackend }): { backend?: ComputeBackend } {
  return setup.backend !== undefined ? { backend: setup.backend } : {};
}

/** The model checksum that the perplexity protocol line reports. */
function backendProtocol(setup: { readonly modelChecksum?: string }): { modelChecksum?: string } {
  return setup.modelChecksum !== undefined ? { modelChecksum: setup.modelChecksum } : {};
}

export async function reproduceTables(setup: TablesSetup): Promise<TablesResult> {
  const t0 = performance.now();
  const log = setup.log ?? (() => {});
  const tok = cachingTokenizer(setup.tokenizer);
  const split = splitCalibrationText(setup.text, {
    ...(setup.calibrationFraction !== undefined ? { calibrationFraction: setup.calibrationFraction } : {}),
  });
  const calTokens = tok.encode(split.calibration, { bos: false, eos: false });
  const cal = calibrationWindows(calTokens, setup.calibration);
  const evalOpts = {
    seqlen: setup.evaluation.seqlen,
    maxWindows: setup.evaluation.maxWindows,
    datasetName: `${setup.datasetName} (evaluation split)`,
    ...backendProtocol(setup),
  };
  const evaluate = async (model: LlamaModel): Promise<{ ppl: number; protocol: string }> => {
    const r = await perplexity(model, tok, split.evaluation, {
      ...evalOpts,
      backendName: model.backend.name,
    });
    return { ppl: r.ppl, protocol: r.protocol };
  };
  const denseModel = await loadLlama(setup.checkpoint, withBackend(setup));
  const dense = await evaluate(denseModel);
  log(`dense ppl ${dense.ppl.toFixed(4)}`);
  const methods = setup.methods ?? ["magnitude", "neg-magnitude", "wanda", "sparsegpt", "mama"];
  const rows: SweepRow[] = await sweep({
    methods,
    levels: setup.levels,
    prune: { ...(setup.prune ?? {}), ...withBackend(setup), checkpoint: setup.checkpoint, calibration: cal },
    evaluate: async (model) => (await evaluate(model)).ppl,
    onRow: (r) =>
      log(
        `${r.method.padEnd(13)} ${r.level.padEnd(5)} ppl ${r.value.toFixed(3).padStart(12)}  sparsity ${r.overallSparsity.toFixed(4)}  prune ${(r.pruneWallTimeMs / 1000).toFixed(1)} s`,
      ),
  });
  const wallTimeMs = performance.now() - t0;
  const ppl = (m: PruneMethod, level: string): number =>
    level === "0" ? dense.ppl : (rows.find((r) => r.method === m && r.level === level)?.value ?? Number.NaN);
  const levels = ["0", ...setup.levels.map(levelLabel)];
  const protocol = [
    `model ${setup.checkpoint.source}${setup.modelChecksum !== undefined ? ` (sha256 ${setup.modelChecksum.slice(0, 16)})` : ""}`,
    `evaluation: ${dense.protocol.replace(/; \d+(\.\d+)? ms$/, "")}`,
    `split: ${split.protocol}`,
    `calibration: ${cal.protocol}, sequential (block i's statistics from pruned blocks 0..i-1, dense inside a block)`,
    "level 0 = the dense model (every method leaves the weights unchanged at sparsity 0)",
    `sweep wall time ${(wallTimeMs / 1000).toFixed(0)} s`,
  ].join(" | ");
  const table = (title: string, ms: PruneMethod[], columns: string[]): TableData => ({
    title,
    protocol,
    columns,
    methods: ms,
    rows: levels.map((level) => ({ level, values: ms.map((m) => ppl(m, level)) })),
  });
  const table1 = table(
    "Table 1: Effectiveness of the pruning indicators (perplexity)",
    ["magnitude", "neg-magnitude"],
    ["by Weights", "by -Weights"],
  );
  const t2methods: PruneMethod[] = ["wanda", "sparsegpt", "magnitude", "mama"];
  const table2 = table(
    "Table 2: Perplexity of the pruned model",
    t2methods,
    t2methods.map((m) => METHOD_LABELS[m]),
  );
  // The expected shape from the anchors, checked rather than assumed.
  const checks: Record<string, boolean | string> = {};
  const first = levels[1];
  if (first !== undefined) {
    checks[`-weights collapses at ${first} (ppl > 10 × dense)`] =
      ppl("neg-magnitude", first) > 10 * dense.ppl;
  }
  const from50 = setup.levels.filter((l) => typeof l === "number" && l >= 0.5).map(levelLabel);
  checks["SparseGPT <= Wanda < magnitude at every level >= 0.5"] = from50.every(
    (l) => ppl("sparsegpt", l) <= ppl("wanda", l) && ppl("wanda", l) < ppl("magnitude", l),
  );
  checks["levels where SparseGPT > Wanda"] =
    from50.filter((l) => ppl("sparsegpt", l) > ppl("wanda", l)).join(", ") || "none";
  checks["levels where MAMA < SparseGPT"] =
    levels
      .slice(1)
      .filter((l) => ppl("mama", l) < ppl("sparsegpt", l))
      .join(", ") || "none";
  checks["levels where MAMA > SparseGPT"] =
    levels
      .slice(1)
      .filter((l) => ppl("mama", l) > ppl("sparsegpt", l))
      .join(", ") || "none";
  return {
    protocol,
    dense: dense.ppl,
    table1,
    table2,
    runs: rows.map((r) => ({
      method: r.method,
      level: r.level,
      ppl: r.value,
      overallSparsity: r.overallSparsity,
      pruneWallTimeMs: r.pruneWallTimeMs,
    })),
    checks,
    wallTimeMs,
  };
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  return v.toFixed(3);
}

/** The measured overall sparsity of the block linears for each (level, method) of a table. */
export function sparsityMarkdown(t: TableData, runs: TablesResult["runs"]): string {
  const lines = [
    "",
    "Measured overall sparsity of the block linears (row-wise groups prune floor(s·cols) per row, so Wanda and MAMA",
    "sit slightly below the nominal level; magnitude, -weights and SparseGPT prune floor(s·n) per matrix or block):",
    "",
    `| Pruning level | ${t.columns.join(" | ")} |`,
    `|---|${t.columns.map(() => "---:").join("|")}|`,
    ...t.rows
      .filter((r) => r.level !== "0")
      .map(
        (r) =>
          `| ${r.level} | ${t.methods
            .map(
              (m) =>
                runs.find((x) => x.method === m && x.level === r.level)?.overallSparsity.toFixed(4) ?? "n/a",
            )
            .join(" | ")} |`,
      ),
  ];
  return `${lines.join("\n")}\n`;
}

export function tableMarkdown(t: TableData, checks?: Readonly<Record<string, boolean | string>>): string {
  const lines = [
    `# ${t.title}`,
    "",
    `Protocol: ${t.protocol}`,
    "",
    `| Pruning level | ${t.columns.join(" | ")} |`,
    `|---|${t.columns.map(() => "---:").join("|")}|`,
    ...t.rows.map((r) => `| ${r.level} | ${r.values.map(fmt).join(" | ")} |`),
  ];
  if (checks !== undefined) {
    lines.push("", "Checks:", "", ...Object.entries(checks).map(([k, v]) => `- ${k}: ${String(v)}`));
  }
  return `${lines.join("\n")}\n`;
}

/** Write table1-weights.{md,json} and table2-methods.{md,json} into `dir`. */
export async function writeTables(dir: string, r: TablesResult): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    [
      "table1-weights.md",
      tableMarkdown(r.table1, pick(r.checks, "-weights")) + sparsityMarkdown(r.table1, r.runs),
    ],
    [
      "table2-methods.md",
      tableMarkdown(r.table2, omit(r.checks, "-weights")) + sparsityMarkdown(r.table2, r.runs),
    ],
    [
      "table1-weights.json",
      `${JSON.stringify({ ...r.table1, dense: r.dense, runs: r.runs.filter((x) => r.table1.methods.includes(x.method)) }, null, 2)}\n`,
    ],
    [
      "table2-methods.json",
      `${JSON.stringify({ ...r.table2, dense: r.dense, checks: r.checks, runs: r.runs.filter((x) => r.table2.methods.includes(x.method)) }, null, 2)}\n`,
    ],
  ];
  for (const [name, body] of files) await writeFile(join(dir, name), body);
  return files.map(([n]) => join(dir, n));
}

function pick(c: Readonly<Record<string, boolean | string>>, s: string): Record<string, boolean | string> {
  return Object.fromEntries(Object.entries(c).filter(([k]) => k.includes(s)));
}
function omit(c: Readonly<Record<string, boolean | string>>, s: string): Record<string, boolean | string> {
  return Object.fromEntries(Object.entries(c).filter(([k]) => !k.includes(s)));
}

export interface MovementTableSetup {
  /** The post-trained checkpoint that is pruned (W¹). */
  readonly checkpoint: Checkpoint;
  /** The pre-trained checkpoint giving W⁰ for MAMA's movement term. */
  readonly preCheckpoint: Checkpoint;
  readonly tokenizer: PerplexityTokenizer;
  readonly text: string;
  readonly datasetName: string;
  readonly calibration: { readonly nsamples: number; readonly seqlen: number; readonly seed: number };
  readonly evaluation: { readonly seqlen: number; readonly maxWindows: number };
  readonly levels: readonly SweepLevel[];
  readonly log?: (line: string) => void;
  /** Compute backend of every forward pass and prune (default: the model package's JS backend). */
  readonly backend?: ComputeBackend;
  /** sha256 of the pruned (post-trained) checkpoint's bytes, for the protocol line. */
  readonly modelChecksum?: string;
}

/**
 * Table 3 (ours, not in the paper): MAMA with and without its movement term on a real pre/post pair,
 * next to Wanda and SparseGPT on the same post-trained model.
 */
export async function reproduceMovementTable(
  setup: MovementTableSetup,
): Promise<TableData & { dense: number }> {
  const t0 = performance.now();
  const log = setup.log ?? (() => {});
  const tok = cachingTokenizer(setup.tokenizer);
  const split = splitCalibrationText(setup.text);
  const cal = calibrationWindows(
    tok.encode(split.calibration, { bos: false, eos: false }),
    setup.calibration,
  );
  const evalOpts = {
    seqlen: setup.evaluation.seqlen,
    maxWindows: setup.evaluation.maxWindows,
    datasetName: `${setup.datasetName} (evaluation split)`,
    ...backendProtocol(setup),
  };
  const denseModel = await loadLlama(setup.checkpoint, withBackend(setup));
  const dense = await perplexity(denseModel, tok, split.evaluation, {
    ...evalOpts,
    backendName: denseModel.backend.name,
  });
  log(`post-trained dense ppl ${dense.ppl.toFixed(4)}`);
  const variants: { label: string; method: PruneMethod; pre: boolean }[] = [
    { label: "Wanda", method: "wanda", pre: false },
    { label: "SparseGPT", method: "sparsegpt", pre: false },
    { label: "MAMA (no movement)", method: "mama", pre: false },
    { label: "MAMA (+ movement from W⁰)", method: "mama", pre: true },
  ];
  const rows: { level: string; values: number[] }[] = [{ level: "0", values: variants.map(() => dense.ppl) }];
  for (const level of setup.levels) {
    const values: number[] = [];
    for (const v of variants) {
      const { model } = await prune({
        checkpoint: setup.checkpoint,
        method: v.method,
        sparsity: level,
        calibration: cal,
        ...withBackend(setup),
        ...(v.pre ? { preCheckpoint: setup.preCheckpoint } : {}),
      });
      const r = await perplexity(model, tok, split.evaluation, {
        ...evalOpts,
        backendName: model.backend.name,
      });
      values.push(r.ppl);
      log(`${v.label.padEnd(28)} ${levelLabel(level).padEnd(5)} ppl ${r.ppl.toFixed(3)}`);
    }
    rows.push({ level: levelLabel(level), values });
  }
  const protocol = [
    `pruned ${setup.checkpoint.source} (post-trained W¹), W⁰ from ${setup.preCheckpoint.source}`,
    `evaluation: ${dense.protocol.replace(/; \d+(\.\d+)? ms$/, "")}`,
    `split: ${split.protocol}`,
    `calibration: ${cal.protocol}, sequential`,
    `wall time ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  ].join(" | ");
  return {
    title: "Table 3 (ours): MAMA's movement term on a real pre/post-trained pair (perplexity)",
    protocol,
    columns: variants.map((v) => v.label),
    methods: variants.map((v) => v.method),
    rows,
    dense: dense.ppl,
  };
}
