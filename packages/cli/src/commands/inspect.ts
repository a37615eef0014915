// ---- `mama-prune inspect <checkpoint>`: architecture, tensors, parameter counts, sparsity ----

import { escapeUntrusted, PruneError } from "@mama-prune/core";
import { LINEAR_NAMES, parseLlamaConfig } from "@mama-prune/model";
import type { Checkpoint } from "@mama-prune/tensor-io";
import { createProgress } from "../progress.ts";
import { abs, type CommandContext, openModelStep, pct } from "./context.ts";

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
  const ckpt = await openModelStep(ctx, full);
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
