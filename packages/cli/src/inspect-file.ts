// ---- `mama-prune inspect` of any safetensors file, model or not ----
//
// A safetensors file is validated as a whole (inspectSafetensorsFile: header, entries, exact tiling
// of the data region) before anything else; when it also describes a supported model (config.json
// beside it) the model summary follows as before, otherwise the file's own listing is the result.

import { open, stat } from "node:fs/promises";
import { escapeUntrusted, isPruneError, type PruneError, quoteUntrusted } from "@mama-prune/core";
import type { SafetensorsInspection } from "@mama-prune/tensor-io";
import { inspectSafetensorsFile } from "@mama-prune/tensor-io/node";

/** What `inspect` reports for a safetensors file that is not a supported model. */
export interface SafetensorsFileInspectResult {
  readonly kind: "safetensors-file";
  readonly path: string;
  readonly fileBytes: number;
  readonly headerBytes: number;
  readonly dataOffset: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors in storage order, with their byte length and absolute file offsets. */
  readonly tensors: readonly {
    readonly name: string;
    readonly dtype: string;
    readonly shape: readonly number[];
    readonly bytes: number;
    readonly fileOffsets: readonly [number, number];
  }[];
  /** Lenient findings (unused bytes, unknown fields); empty for a strictly valid file. */
  readonly warnings: readonly string[];
  /** Why no model summary: the model-config error (escaped), e.g. no config.json beside the file. */
  readonly notAModel: string;
}

/**
 * Whether `path` is a safetensors file: a regular file whose name ends in `.safetensors` or whose
 * 9th byte is `{` (a JSON header right after the 8-byte length) — the rule tensor-io's
 * `openCheckpoint` uses.
 */
export async function isSafetensorsFile(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => null);
  if (st === null || !st.isFile()) return false;
  if (path.endsWith(".safetensors")) return true;
  const fh = await open(path, "r");
  try {
    const head = new Uint8Array(9);
    const { bytesRead } = await fh.read(head, 0, 9, 0);
    return bytesRead === 9 && head[8] === 0x7b;
  } finally {
    await fh.close();
  }
}

/**
 * Validate a safetensors file's whole layout (strict unless `lenient`; lenient findings are
 * returned as warnings).
 *
 * @throws PruneError TENSOR_IO_MALFORMED / DTYPE_UNSUPPORTED naming the file, tensor and offsets.
 */
export async function validateSafetensorsFile(
  path: string,
  lenient: boolean,
): Promise<SafetensorsInspection> {
  return await inspectSafetensorsFile(path, { lenient });
}

/** Errors that mean "a valid safetensors file, but not a model this tool can summarise". */
export function isNotAModel(e: unknown): e is PruneError {
  return isPruneError(e, "CONFIG_INVALID") || isPruneError(e, "ARCH_UNSUPPORTED");
}

/**
 * The file-level inspect result of a valid safetensors file.
 *
 * @example
 * fileInspectResult("w.safetensors", await validateSafetensorsFile("w.safetensors", false), err);
 */
export function fileInspectResult(
  path: string,
  info: SafetensorsInspection,
  notAModel: unknown,
): SafetensorsFileInspectResult {
  const why = notAModel instanceof Error ? notAModel.message : String(notAModel);
  return {
    kind: "safetensors-file",
    path,
    fileBytes: info.fileBytes,
    headerBytes: info.headerBytes,
    dataOffset: info.dataOffset,
    metadata: info.metadata,
    tensors: info.tensors.map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      bytes: t.bytes,
      fileOffsets: t.fileOffsets,
    })),
    warnings: info.warnings.map((w) => escapeUntrusted(w.message, 400)),
    notAModel: escapeUntrusted(why, 400),
  };
}

/**
 * Human-readable text of a {@link SafetensorsFileInspectResult}. Every name and metadata entry
 * taken from the file is escaped and bounded (80 characters).
 *
 * @example
 * io.stdout(formatFileInspect(r));
 */
export function formatFileInspect(r: SafetensorsFileInspectResult): string {
  const n = (x: number): string => x.toLocaleString("en");
  const total = r.tensors.reduce((a, t) => a + t.bytes, 0);
  const meta = Object.entries(r.metadata);
  const lines = [
    `${r.path}: safetensors file, ${n(r.fileBytes)} bytes (8 + header ${n(r.headerBytes)} + data ${n(r.fileBytes - r.dataOffset)}), layout valid${r.warnings.length > 0 ? ` with ${r.warnings.length} lenient finding${r.warnings.length === 1 ? "" : "s"}` : ""}`,
    `not a model summary: ${r.notAModel}`,
    `metadata (${meta.length}):${meta.length === 0 ? " none" : ""}`,
    ...meta.slice(0, 100).map(([k, v]) => `  ${quoteUntrusted(k)}: ${quoteUntrusted(v)}`),
    ...(meta.length > 100 ? [`  … and ${meta.length - 100} more`] : []),
    `tensors (${r.tensors.length}, ${n(total)} bytes of data):`,
    ...r.tensors.map(
      (t) =>
        `  ${escapeUntrusted(t.name).padEnd(48)} ${t.dtype.padEnd(5)} [${t.shape.join(", ")}]  ${n(t.bytes)} bytes @ ${t.fileOffsets[0]}`,
    ),
    ...r.warnings.map((w) => `warning: ${w}`),
  ];
  return `${lines.join("\n")}\n`;
}
