import type { SideFile, WriteHfCheckpointResult } from "@mama-prune/tensor-io";
import { writeHfCheckpointFolder } from "@mama-prune/tensor-io/node";
import { type LlamaParams, paramEntries } from "../params.ts";

/** Options of {@link writeParamsFolder}. */
export interface WriteParamsFolderOptions {
  /** Replace a non-empty destination (default false: TENSOR_IO_EXISTS). */
  readonly overwrite?: boolean;
  /** Extra files (tokenizer, generation config, a training report) written alongside. */
  readonly extraFiles?: readonly SideFile[];
  /** Extra keys merged into config.json (e.g. `{ mama_prune_training: {...} }`). */
  readonly configExtra?: Readonly<Record<string, unknown>>;
}

/**
 * Write trained params as a Hugging Face checkpoint folder (config.json + model.safetensors,
 * float32), atomically, with tensor-io's `writeHfCheckpointFolder`.
 *
 * @throws PruneError TENSOR_IO_EXISTS (non-empty destination without overwrite) and the errors of
 *   `writeHfCheckpointFolder`.
 * @example
 * await writeParamsFolder("out/sft", params, { overwrite: true });
 */
export function writeParamsFolder(
  path: string,
  params: LlamaParams,
  options: WriteParamsFolderOptions = {},
): Promise<WriteHfCheckpointResult> {
  return writeHfCheckpointFolder(path, {
    config: { ...params.hfConfig, ...(options.configExtra ?? {}), torch_dtype: "float32" },
    tensors: paramEntries(params),
    ...(options.overwrite !== undefined ? { overwrite: options.overwrite } : {}),
    ...(options.extraFiles ? { extraFiles: options.extraFiles } : {}),
  });
}
