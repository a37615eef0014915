// ---- `mama-prune inspect`: a model summary, or the listing of any safetensors file ----

import { resolve } from "node:path";
import { escapeUntrusted } from "@mama-prune/core";
import type { CommandContext } from "./commands/context.ts";
import { formatInspect, type InspectResult, runInspect } from "./commands/inspect.ts";
import {
  fileInspectResult,
  formatFileInspect,
  isNotAModel,
  isSafetensorsFile,
  type SafetensorsFileInspectResult,
  validateSafetensorsFile,
} from "./inspect-file.ts";

/**
 * `mama-prune inspect <path>`: a safetensors file is first validated as a whole (strict unless
 * `ctx.lenient`; each lenient finding printed as a warning). A model (llama2.c .bin, Hugging Face
 * folder, safetensors with a Llama config.json beside it) then gets the model summary of
 * {@link runInspect}; a valid safetensors file that is not a supported model gets its own listing
 * (tensors with dtype, shape and bytes, metadata) instead of an error.
 *
 * @throws PruneError TENSOR_IO_MALFORMED / DTYPE_UNSUPPORTED for an invalid safetensors file, and
 *   everything {@link runInspect} throws for a path that is not a safetensors file.
 * @example
 * const r = await runInspectAny("weights.safetensors", { io });
 */
export async function runInspectAny(
  path: string,
  ctx: CommandContext,
): Promise<InspectResult | SafetensorsFileInspectResult> {
  const full = resolve(ctx.io.cwd, path);
  if (!(await isSafetensorsFile(full))) return await runInspect(path, ctx);
  const info = await validateSafetensorsFile(full, ctx.lenient === true);
  for (const w of info.warnings) ctx.io.stderr(`mama-prune: warning: ${escapeUntrusted(w.message, 400)}\n`);
  try {
    // Already validated (and its warnings printed): open it again without printing them twice.
    return await runInspect(path, { ...ctx, io: { ...ctx.io, stderr: quietWarnings(ctx) } });
  } catch (e) {
    if (isNotAModel(e)) return fileInspectResult(path, info, e);
    throw e;
  }
}

function quietWarnings(ctx: CommandContext): (text: string) => void {
  return (text) => {
    if (!text.startsWith("mama-prune: warning: ")) ctx.io.stderr(text);
  };
}

/**
 * Human-readable text of either inspect result.
 *
 * @example
 * io.stdout(formatInspectAny(await runInspectAny(path, { io })));
 */
export function formatInspectAny(r: InspectResult | SafetensorsFileInspectResult): string {
  return "kind" in r ? formatFileInspect(r) : formatInspect(r);
}
