// ---- What `prune` records in pruning.json (everything but the checksums) ----

import type { CalibrationWindows, PruneReport } from "@mama-prune/pipeline";
import type { ResolvedCalibrationSize } from "./calibration-protocol.ts";
import type { PruneJob } from "./commands/prune.ts";
import type { ProvenanceInput } from "./provenance.ts";
import { CLI_VERSION } from "./version.ts";

/**
 * The {@link ProvenanceInput} of a prune: the method as resolved by the pipeline (and as given),
 * sparsity, allocation, storage, recipe, calibration protocol, backend, and the input paths to hash
 * (model, pre-trained checkpoint, calibration text, tokenizer, recipe).
 *
 * @example
 * pruneProvenance(job, report, { label: "Wanda", lenient: false });
 */
export function pruneProvenance(
  job: PruneJob,
  report: PruneReport,
  o: {
    readonly label: string;
    readonly lenient: boolean;
    readonly calibration?: CalibrationWindows & { readonly size: ResolvedCalibrationSize };
    readonly tokenizerPath?: string;
  },
): ProvenanceInput {
  const cal = o.calibration;
  const c = job.calibration;
  return {
    toolVersion: CLI_VERSION,
    method: {
      name: report.method,
      label: o.label,
      scorer: report.scorer,
      group: report.group,
      redistribution: report.redistribution,
      given: job.method,
    },
    sparsity: report.sparsity,
    overallSparsity: report.overallSparsity,
    allocation: job.allocation ?? { kind: "uniform" },
    format: job.format,
    ...(job.recipe !== undefined ? { recipe: job.recipe } : {}),
    ...(cal !== undefined && c !== undefined
      ? {
          calibration: {
            text: c.text,
            nsamples: cal.nsamples,
            seqlen: cal.seqlen,
            seed: c.seed,
            ...(c.split !== undefined ? { split: c.split } : {}),
            defaulted: cal.size.defaulted,
            protocol: cal.protocol,
          },
        }
      : {}),
    backend: report.backend,
    lenient: o.lenient,
    inputs: [
      { role: "model", path: job.model },
      ...(job.pre !== undefined ? [{ role: "pre", path: job.pre }] : []),
      ...(cal !== undefined && c !== undefined ? [{ role: "calibration", path: c.text }] : []),
      ...(o.tokenizerPath !== undefined ? [{ role: "tokenizer", path: o.tokenizerPath }] : []),
      ...(job.recipe !== undefined ? [{ role: "recipe", path: job.recipe.path }] : []),
    ],
  };
}
