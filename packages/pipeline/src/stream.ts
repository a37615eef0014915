// ---- Streaming: prune block by block from the checkpoint straight into the output folder ----

import { PruneError } from "@mama-prune/core";
import { createCpuBackend, type LlamaModel, loadLlama, parseLlamaConfig } from "@mama-prune/model";
import {
  type Checkpoint,
  type SafetensorsEntry,
  type SideFile,
  type SparseFormat,
  type WritableCheckpointDir,
  type WriteHfCheckpointResult,
  writeHfCheckpoint,
} from "@mama-prune/tensor-io";
import { blockCheckpoint } from "./block-view.ts";
import { pruneMetadata } from "./checkpoint.ts";
import { embedTokenRows } from "./embed-rows.ts";
import { checkOutputFormat } from "./output-format.ts";
import { type PruneOptions, type PruneReport, startPrune } from "./prune.ts";
import { checkPruneOptions } from "./prune-options.ts";

/** Options of {@link pruneToCheckpoint}: {@link PruneOptions} with a checkpoint, plus the output format. */
export interface PruneToCheckpointOptions extends Omit<PruneOptions, "model" | "checkpoint"> {
  /** The checkpoint to prune; read one block at a time, never modified. */
  readonly checkpoint: Checkpoint;
  /** Storage format of the block linears (default "dense"). */
  readonly format?: SparseFormat;
  /** Extra fields of the `mama_prune` config object. */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Shard size limit in bytes (tensor-io default when absent). */
  readonly maxShardSizeBytes?: number;
  /**
   * Shard the output like the source: the 0-based source shard of each tensor (e.g. from the
   * source's `model.safetensors.index.json`). Tensors are then written shard by shard, in layer order
   * inside each; when that order would visit a block after a later one (a source whose shards do not
   * follow the layers), it is ignored and the output is sharded by `maxShardSizeBytes`.
   */
  readonly shardOf?: (name: string) => number;
  /** Called with the finished report before config.json is written (e.g. for a provenance file written at commit). */
  readonly onReport?: (report: PruneReport) => void;
  /** Side files written beside the weights (tokenizer, generation config, …). */
  readonly extraFiles?: readonly SideFile[];
}

/** Result of {@link pruneToCheckpoint}. */
export interface PruneToCheckpointResult {
  readonly report: PruneReport;
  readonly written: WriteHfCheckpointResult;
}

const LAYER_RE = /^model\.layers\.(\d+)\./;

/**
 * Prune a checkpoint with the sequential protocol of {@link prune}, one block resident at a time, and
 * write the result as a Hugging Face folder through tensor-io's staged writer (committed atomically).
 *
 * Memory: block l's weights are loaded right before it is pruned (through a one-block view of the
 * checkpoint) and released when block l+1 is loaded; the calibration hidden states, one block's
 * statistics and the tensor being written are the rest. Of the embedding matrix only the rows of the
 * calibration tokens are read ({@link embedTokenRows}; the whole stored matrix when the checkpoint
 * cannot read parts of a tensor), and the tensor itself is still copied to the output. The writer asks for tensors in layer order, and asking for block l's
 * linears is what prunes block l (after blocks 0..l−1), so pruned weights go to disk as soon as their
 * block is done. Everything except the block linears is copied as raw bytes; the pruned linears are
 * stored in the source's dtype (tensor-io encodes float32 to F16/BF16 rounding to nearest even, so
 * zeros stay exact zeros and unchanged weights round-trip bit-exactly). With a sparse `format`
 * tensor-io compresses one shard in memory before writing it. The perplexity of the result needs the
 * whole model: load the written folder.
 *
 * config.json = the source config + `mama_prune` ({@link pruneMetadata}), written after the tensors.
 *
 * @throws PruneError everything {@link prune} and `writeHfCheckpoint` throw; SHAPE_MISMATCH when a
 *   source linear does not match the config; SPARSITY_INVALID before any work when `format` cannot
 *   store the result (`checkOutputFormat`: sparse-24-bitmask needs 2:4 and widths divisible by 4).
 * @example
 * const { report } = await pruneToCheckpoint(memoryCheckpointDir("out"), { checkpoint, method: "wanda", sparsity: 0.5, calibration });
 */
export async function pruneToCheckpoint(
  dir: WritableCheckpointDir,
  options: PruneToCheckpointOptions,
): Promise<PruneToCheckpointResult> {
  const source = options.checkpoint;
  if (source === undefined) {
    throw new PruneError(
      "RECIPE_INVALID",
      "pruneToCheckpoint: option checkpoint is required. Expected a Checkpoint, got undefined.",
    );
  }
  const { format, metadata, maxShardSizeBytes, shardOf, extraFiles, onReport, ...rest } = options;
  const pruneOptions: PruneOptions = rest;
  const config = parseLlamaConfig(source.config, `${source.source} config`);
  // Before any work: a format that cannot store this sparsity or these widths would fail mid-write.
  checkPruneOptions(pruneOptions);
  checkOutputFormat(format ?? "dense", pruneOptions.sparsity, config, "pruneToCheckpoint: option format");
  const H = config.hiddenSize;
  let current: { l: number; model: LlamaModel } | undefined;
  const run = await startPrune(pruneOptions, async () => {
    const backend = options.backend ?? createCpuBackend();
    return {
      config,
      backend,
      // Only the rows of the tokens that occur are read (not the whole vocab × H matrix).
      embed: async (tokens) => embedTokenRows(source, "model.embed_tokens.weight", tokens, H),
      open: async (l) => {
        if (current?.l !== l) {
          current = undefined; // release the previous block before loading the next
          current = {
            l,
            model: await loadLlama(blockCheckpoint(source, l, H), {
              backend,
              ...(options.signal !== undefined ? { signal: options.signal } : {}),
            }),
          };
        }
        return { model: current.model, local: 0 };
      },
    };
  });

  let pruned = 0;
  const ensure = async (l: number): Promise<LlamaModel> => {
    while (pruned <= l) await run.pruneBlock(pruned++);
    if (current?.l !== l) {
      throw new PruneError(
        "TENSOR_IO_WRITE_FAILED",
        `pruneToCheckpoint: block ${l} was requested after block ${current?.l} was loaded. Expected tensors in layer order, got an out-of-order request.`,
      );
    }
    return current.model;
  };
  const layerOf = (name: string): number => {
    const m = LAYER_RE.exec(name);
    return m === null ? Number.POSITIVE_INFINITY : Number(m[1]);
  };
  const byLayer = (a: { name: string }, b: { name: string }): number => layerOf(a.name) - layerOf(b.name);
  let infos = [...source.list()].sort(byLayer);
  let sharding = shardOf;
  if (sharding !== undefined) {
    const s = sharding;
    const planned = [...source.list()].sort((a, b) => s(a.name) - s(b.name) || byLayer(a, b));
    const blocks = planned.map((t) => layerOf(t.name)).filter((l) => l < config.numLayers);
    if (blocks.every((l, i) => i === 0 || l >= blocks[i - 1]!)) infos = planned;
    else sharding = undefined;
  }
  const linearRe = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.((?:q|k|v|o|gate|up|down)_proj)\.weight$/;
  const entries: SafetensorsEntry[] = infos.map((t) => {
    const m = linearRe.exec(t.name);
    if (m === null || Number(m[1]) >= config.numLayers) {
      return { name: t.name, dtype: t.dtype, shape: t.shape, data: () => source.readRaw(t.name) };
    }
    const l = Number(m[1]);
    const linear = m[2] as Parameters<LlamaModel["getLinearWeight"]>[1];
    return {
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      data: async () => (await ensure(l)).getLinearWeight(0, linear),
    };
  });
  // A source without one block's linears (unusual) still gets every block pruned before config.json.
  const finish = async (): Promise<PruneReport> => {
    while (pruned < run.numLayers) await run.pruneBlock(pruned++);
    current = undefined;
    const rep = run.report();
    onReport?.(rep);
    return rep;
  };
  let report: PruneReport | undefined;
  const outConfig: Record<string, unknown> = { ...source.config };
  // tensor-io serialises config.json after the tensors: the getter reads the finished report then.
  Object.defineProperty(outConfig, "mama_prune", {
    enumerable: true,
    get: () => pruneMetadata(report, metadata),
  });
  async function* tensors(): AsyncGenerator<SafetensorsEntry> {
    for (const e of entries) yield e;
  }
  const written = await writeHfCheckpoint(dir, {
    config: outConfig,
    tensors: wrapLast(tensors(), async () => {
      report = await finish();
    }),
    format: format ?? "dense",
    ...(maxShardSizeBytes !== undefined ? { maxShardSizeBytes } : {}),
    ...(sharding !== undefined ? { shardOf: sharding } : {}),
    ...(extraFiles !== undefined ? { extraFiles } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  report ??= await finish();
  return { report, written };
}

/**
 * Wrap the entries so that the last entry's data() also runs `after` (the writer consumes data() in
 * order, so this runs once every tensor has been produced and before config.json is serialised).
 */
function wrapLast(
  it: AsyncGenerator<SafetensorsEntry>,
  after: () => Promise<void>,
): AsyncGenerator<SafetensorsEntry> {
  return (async function* () {
    let prev: SafetensorsEntry | undefined;
    for await (const e of it) {
      if (prev !== undefined) yield prev;
      prev = e;
    }
    if (prev !== undefined) {
      const last = prev;
      yield {
        ...last,
        data: async () => {
          const d = typeof last.data === "function" ? await last.data() : last.data;
          await after();
          return d;
        },
      };
    }
  })();
}
