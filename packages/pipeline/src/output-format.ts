// ---- Storage format vs sparsity and shapes, checked before any work ----

import { PruneError, type Sparsity, sparsityLabel } from "@mama-prune/core";
import type { LinearName, LlamaConfig } from "@mama-prune/model";
import type { SparseFormat } from "@mama-prune/tensor-io";

/** Input width of each block linear under a config (the widths N:M groups run along). */
function inputWidths(config: LlamaConfig): [LinearName, number][] {
  const h = config.hiddenSize;
  return [
    ["q_proj", h],
    ["k_proj", h],
    ["v_proj", h],
    ["o_proj", config.numHeads * config.headDim],
    ["gate_proj", h],
    ["up_proj", h],
    ["down_proj", config.intermediateSize],
  ];
}

/**
 * Check, before any work, that the pruned block linears can be stored in `format`: `dense` and
 * `sparse-bitmask` store any mask; `sparse-24-bitmask` (compressed-tensors 2:4, at most 2 non-zeros in
 * every 4 consecutive inputs) needs an N:4 sparsity with N ≥ 2 (2:4, or 3:4) and every linear's input
 * width divisible by 4 (no N:M tail group). Without this check the writer refuses the weights only
 * after pruning (MASK_INVALID / SHAPE_MISMATCH halfway through a streamed write).
 *
 * @param where prefix of the error message (e.g. `"prune"` or the `--format` flag).
 * @throws PruneError SPARSITY_INVALID naming the format, the sparsity or the linear and its width.
 * @example
 * checkOutputFormat("sparse-24-bitmask", { n: 4, m: 8 }, config); // throws: needs 2:4 …
 */
export function checkOutputFormat(
  format: SparseFormat,
  sparsity: Sparsity,
  config: LlamaConfig,
  where = "prune",
): void {
  if (format !== "sparse-24-bitmask") return;
  if (typeof sparsity === "number" || sparsity.m !== 4 || sparsity.n < 2) {
    throw new PruneError(
      "SPARSITY_INVALID",
      `${where}: output format sparse-24-bitmask stores at most 2 non-zeros in every 4 consecutive inputs. Expected sparsity 2:4 (or 3:4), got ${sparsityLabel(sparsity)} (use format dense or sparse-bitmask).`,
    );
  }
  for (const [name, cols] of inputWidths(config)) {
    if (cols % 4 !== 0) {
      throw new PruneError(
        "SPARSITY_INVALID",
        `${where}: output format sparse-24-bitmask needs every block linear's input width divisible by 4. Expected ${name} width % 4 = 0, got ${cols} (a ${cols % 4}-column tail group; use format dense or sparse-bitmask).`,
      );
    }
  }
}
