// ---- `--format` against the sparsity and the model's shapes, before any work (issue 14) ----

import type { Sparsity } from "@mama-prune/core";
import { parseLlamaConfig } from "@mama-prune/model";
import { checkOutputFormat } from "@mama-prune/pipeline";
import type { OutputFormat } from "./recipe.ts";

/**
 * Refuse an output format that cannot store the pruned model (today: `sparse-24` with anything but
 * 2:4/3:4, or a block linear whose input width is not divisible by 4) right after the model is opened,
 * before calibration and pruning, instead of failing in the writer after the work.
 *
 * @throws PruneError SPARSITY_INVALID naming `--format`, the sparsity or the linear and its width;
 *   the config errors of `parseLlamaConfig`.
 * @example
 * checkPruneOutputFormat("sparse-24", { n: 4, m: 8 }, ckpt.config, "model.bin"); // throws
 */
export function checkPruneOutputFormat(
  format: OutputFormat,
  sparsity: Sparsity,
  modelConfig: Readonly<Record<string, unknown>>,
  modelPath: string,
): void {
  if (format !== "sparse-24") return;
  const config = parseLlamaConfig(modelConfig, `${modelPath} config`);
  checkOutputFormat("sparse-24-bitmask", sparsity, config, "prune: option --format sparse-24");
}
