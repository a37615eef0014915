// Shared setup of the MAMA experiments: the three models, the anchors as sweep columns, the two
// protocols (evaluation split for results; a held-out slice of the calibration split for tuning).
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, SILENT_LOGGER } from "@mama-prune/core";
import { createCpuBackend, createLlama2cTokenizer } from "@mama-prune/model";
import {
  columnNorms,
  createMamaMethod,
  defineMethod,
  type LinearProcedureInput,
  type MamaMethodOptions,
  measureSweep,
  type SweepLevel,
  type SweepMethod,
  type SweepMethodOptions,
  type SweepResult,
  splitCalibrationText,
  swapRefineMask,
  sweepMethod,
} from "@mama-prune/pipeline";
import { leastSquaresRefit, sparsegpt } from "@mama-prune/redistribute";
import { runScorer, selectMask, wanda } from "@mama-prune/scoring";
import { type Checkpoint, readLlama2c, readLlama2cTokenizer } from "@mama-prune/tensor-io";

export const ROOT: string = fileURLToPath(new URL("../../../", import.meta.url));
export const SEEDS: readonly number[] = [0, 1, 2];
export const CAL = { nsamples: 16, seqlen: 256 } as const;
export const EVAL = { seqlen: 256, windows: 16 } as const;

export interface ModelSpec {
  readonly id: string;
  readonly file: string;
  /** Pre-trained ancestor (W⁰) for movement, when the model is a fine-tune. */
  readonly pre?: string;
}

export const MODELS: readonly ModelSpec[] = [
  { id: "stories260K", file: "data/stories260K/stories260K.bin" },
  { id: "llama2xs", file: "data/llama2xs-tinystories/model.bin" },
  {
    id: "stories260K-finetune",
    file: "data/stories260K-finetune/stories260K_qat_finalpolishstrong_seq256_dequant_f32.bin",
    pre: "data/stories260K-finetune/stories260K_base_dequant_f32.bin",
  },
];

export async function bytes(p: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(`${ROOT}${p}`));
}

export async function loadModel(p: string): Promise<{ checkpoint: Checkpoint; sha256: string }> {
  const b = await bytes(p);
  const name = p.split("/").at(-1)!;
  return { checkpoint: await readLlama2c(b, name), sha256: createHash("sha256").update(b).digest("hex") };
}

/**
 * SparseGPT's adaptive mask, then the exact least-squares refit of the kept weights for that mask
 * (an anchor: does MAMA beat "the best mask we know + the best weights for it"?). Made with
 * `defineMethod`'s per-linear hook.
 */
export const SPARSEGPT_MASK_REFIT = defineMethod({
  name: "sparsegpt-mask-refit",
  label: "SparseGPT mask + refit",
  scorer: () => ({
    name: "sparsegpt-mask-refit",
    apiVersion: 1,
    granularity: "element",
    requires: ["weights"],
    score: (ctx) => new Float32Array(ctx.weight.data.length),
  }),
  group: "block",
  redistribution: "refit",
  linear: () => async (i: LinearProcedureInput) => {
    const gram = i.stats?.gram;
    if (gram === undefined) throw new Error(`${i.name}: sparsegpt-mask-refit needs the Gram matrix`);
    const d = i.damping ?? 0.01;
    const g = await sparsegpt(i.weight, gram, { sparsity: i.sparsity, percdamp: d, name: i.name });
    const r = await leastSquaresRefit(i.weight, gram, g.mask, { damping: d, name: i.name });
    return { weight: r.weight, mask: g.mask, redistribution: "refit", dampingUsed: r.dampingUsed };
  },
});

/**
 * SparseGPT's adaptive mask, refined by `swapRefineMask` (exact kept/pruned swaps while each row's
 * reconstruction loss drops; N:M swaps stay inside a run), then the exact refit: the swap pass started
 * from SparseGPT's sequential choice instead of MAMA's gradual steps (a development comparison).
 */
export const SPARSEGPT_MASK_SWAP_REFIT = defineMethod({
  ...SPARSEGPT_MASK_REFIT,
  name: "sparsegpt-mask-swap-refit",
  label: "SparseGPT mask + swap + refit",
  linear: () => async (i: LinearProcedureInput) => {
    const gram = i.stats?.gram;
    if (gram === undefined) throw new Error(`${i.name}: sparsegpt-mask-swap-refit needs the Gram matrix`);
    const d = i.damping ?? 0.01;
    const g = await sparsegpt(i.weight, gram, { sparsity: i.sparsity, percdamp: d, name: i.name });
    const nm = typeof i.sparsity === "number" ? {} : { nm: i.sparsity };
    const s = swapRefineMask(i.weight, gram, g.mask, { damping: d, name: i.name, ...nm });
    const r = await leastSquaresRefit(i.weight, gram, s.mask, { damping: d, name: i.name });
    return { weight: r.weight, mask: s.mask, redistribution: "refit", dampingUsed: r.dampingUsed };
  },
});

export function mamaColumn(label: string, o?: MamaMethodOptions): SweepMethod {
  return {
    label,
    options: { method: "mama", ...(o !== undefined ? { methodOptions: o } : {}) },
  };
}

/** The anchors of the main table, in column order (MAMA appended by the caller). */
export function anchorColumns(): SweepMethod[] {
  return [
    { ...sweepMethod("magnitude"), usesCalibration: false },
    sweepMethod("wanda"),
    { label: "Wanda + refit", options: { method: "wanda", redistribution: "refit" } },
    sweepMethod("sparsegpt"),
    { label: "SparseGPT mask + refit", options: { method: SPARSEGPT_MASK_REFIT } },
  ];
}

export type Side = "evaluation" | "tuning";

let backendP: Promise<ComputeBackend> | undefined;
export function backend(): Promise<ComputeBackend> {
  backendP ??= createDefaultCpuBackend({ fallback: createCpuBackend, prefer: "auto" });
  return backendP;
}

/**
 * One measured sweep of `methods` × `levels` × {@link SEEDS} on model `m`.
 * - side "evaluation": the repository's table protocol (tinystories_val.txt split into disjoint
 *   paragraphs: first 85 % evaluate, last 15 % calibrate; 16 × 256 eval windows);
 * - side "tuning": never touches the evaluation split: the calibration split is cut again, windows
 *   come from its first two thirds and perplexity is scored on its last third (16 × 256 windows).
 */
export async function runSweep(
  m: ModelSpec,
  methods: readonly SweepMethod[],
  levels: readonly SweepLevel[],
  side: Side,
  title: string,
  seeds: readonly number[] = SEEDS,
): Promise<SweepResult> {
  const tok = createLlama2cTokenizer(readLlama2cTokenizer(await bytes("data/stories260K/tok512.bin"), 512));
  const text = await readFile(`${ROOT}data/tinystories/tinystories_val.txt`, "utf8");
  const { checkpoint, sha256 } = await loadModel(m.file);
  const pre = m.pre !== undefined ? (await loadModel(m.pre)).checkpoint : undefined;
  let evaluation: { text: string; name: string };
  let calibration: { text?: string; nsamples: number; seqlen: number; seeds: readonly number[] };
  if (side === "evaluation") {
    evaluation = { text, name: "tinystories_val.txt" };
    calibration = { ...CAL, seeds };
  } else {
    const outer = splitCalibrationText(text);
    const inner = splitCalibrationText(outer.calibration, { calibrationFraction: 1 / 3 });
    evaluation = { text: inner.calibration, name: "held-out tuning slice of the calibration split" };
    calibration = { text: inner.evaluation, ...CAL, seeds };
  }
  return measureSweep({
    checkpoint,
    backend: await backend(),
    tokenizer: tok,
    methods,
    levels,
    evaluation: { ...evaluation, ...EVAL },
    calibration,
    modelName: m.file.split("/").at(-1)!,
    modelChecksum: sha256,
    ...(pre !== undefined ? { preCheckpoint: pre, preName: m.pre!.split("/").at(-1)! } : {}),
    title,
  });
}

export async function writeResult(name: string, text: string): Promise<void> {
  await mkdir(`${ROOT}results`, { recursive: true });
  await writeFile(`${ROOT}results/${name}`, text);
}

/** Mean and sample std of one column × level from a sweep's rows. */
export function cell(r: SweepResult, label: string, level: string): { mean: number; sd: number; n: number } {
  const v = r.rows.filter((x) => x.label === label && x.level === level).map((x) => x.value);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, sd, n: v.length };
}

/** Hamming fractions of MAMA's final mask vs Wanda's on the same linear inputs, per linear type. */
export type HammingLog = Map<string, { diff: number; total: number }>;

/**
 * MAMA (built-in defaults, or `o` laid over them) that also computes, for every linear, Wanda's mask
 * on the same dense weight and the same input statistics, and adds the differing entries to `log`
 * (key: `q_proj`, …). The weights are exactly MAMA's.
 */
export function mamaWithHamming(log: HammingLog, o?: MamaMethodOptions): SweepMethodOptions {
  const base = createMamaMethod();
  const method = defineMethod<MamaMethodOptions>({
    ...base,
    name: "mama",
    linear: (env) => {
      const inner = base.linear!(env);
      return async (i: LinearProcedureInput) => {
        const r = await inner(i);
        // ‖X_j‖² is diag(XᵀX) without sample weights (MAMA's default collects the Gram matrix only).
        const g = i.stats?.gram;
        const n = i.weight.cols;
        const sq =
          i.stats?.sqNorm ??
          (g !== undefined ? Float64Array.from({ length: n }, (_, j) => g[j * n + j]!) : undefined);
        if (sq !== undefined) {
          const scores = await runScorer(wanda(), {
            name: i.name,
            weight: i.weight,
            activationNorms: columnNorms(sq),
            log: SILENT_LOGGER,
          });
          const { rows, cols } = i.weight;
          const wm =
            typeof i.sparsity === "number"
              ? selectMask(scores, rows, cols, { sparsity: i.sparsity, group: "row" })
              : selectMask(scores, rows, cols, { sparsity: i.sparsity, group: "n:m" });
          let diff = 0;
          for (let k = 0; k < wm.length; k++) if (wm[k] !== r.mask[k]) diff++;
          const key = i.name.split(".").at(-2)!;
          const e = log.get(key) ?? { diff: 0, total: 0 };
          log.set(key, { diff: e.diff + diff, total: e.total + wm.length });
        }
        return r;
      };
    },
  });
  return { method, ...(o !== undefined ? { methodOptions: o } : {}) };
}
