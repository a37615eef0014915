// ---- Checks on the output folder before any work: a prune that fails at the write wasted hours ----

import { randomUUID } from "node:crypto";
import { mkdir, readdir, realpath, rmdir, stat, statfs } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { PruneError } from "@mama-prune/core";

/** The file-system calls {@link preflightOutput} makes (injectable for tests). */
export interface PreflightFs {
  stat(path: string): Promise<{ isDirectory(): boolean; isFile(): boolean; size: number }>;
  readdir(path: string): Promise<string[]>;
  /** Create and remove a probe folder: the only reliable writability test (root ignores mode bits). */
  mkdir(path: string): Promise<unknown>;
  rmdir(path: string): Promise<unknown>;
  /** Free space; `undefined` when the platform cannot tell (the check is then skipped). */
  statfs?(path: string): Promise<{ bavail: number | bigint; bsize: number | bigint }>;
  realpath(path: string): Promise<string>;
}

/** The Node file system. */
export const NODE_PREFLIGHT_FS: PreflightFs = {
  stat: (p) => stat(p),
  readdir: (p) => readdir(p),
  mkdir: (p) => mkdir(p),
  rmdir: (p) => rmdir(p),
  statfs: (p) => statfs(p),
  realpath: (p) => realpath(p),
};

/** Options of {@link preflightOutput}. */
export interface PreflightOptions {
  /** Replace a non-empty folder (then it is not an error). */
  readonly overwrite: boolean;
  /** Paths the output is computed from: the output may not be, contain or sit inside one. */
  readonly inputs: readonly string[];
  /** Bytes the output will take ({@link estimateOutputBytes}). */
  readonly estimatedBytes: number;
  /** Flag or key naming the output in messages. Default "--out". */
  readonly flag?: string;
}

const MIB = 1024 * 1024;

function errnoOf(e: unknown): string {
  return (e as { code?: string } | undefined)?.code ?? String(e).slice(0, 80);
}

async function canonical(fs: PreflightFs, p: string): Promise<string> {
  try {
    return await fs.realpath(p);
  } catch {
    const parent = dirname(p);
    return parent === p ? p : join(await canonical(fs, parent), basename(p));
  }
}

function overlaps(a: string, b: string): boolean {
  const inside = (x: string, y: string): boolean => {
    const r = relative(y, x);
    return r === "" || (!r.startsWith("..") && !r.startsWith(sep));
  };
  return inside(a, b) || inside(b, a);
}

/**
 * Refuse, before any work, an output folder that the write at the end would refuse or fail on:
 * a non-empty folder without `overwrite`, a file in the way (at the path or at any parent), an
 * output overlapping an input, a parent folder where nothing can be created (read-only file
 * system, no permission: tested by creating and removing a probe folder, which is also right for
 * root), and a file system with less free space than `estimatedBytes` + 1 MiB.
 *
 * @throws PruneError TENSOR_IO_EXISTS (non-empty, file in the way, overlapping an input) and
 *   TENSOR_IO_WRITE_FAILED (cannot create anything there, not enough space), each naming the path.
 * @example
 * await preflightOutput("out/wanda-50", { overwrite: false, inputs: ["model.bin"], estimatedBytes: 1e6 });
 */
export async function preflightOutput(
  out: string,
  options: PreflightOptions,
  fs: PreflightFs = NODE_PREFLIGHT_FS,
): Promise<void> {
  const flag = options.flag ?? "--out";
  const target = resolve(out);
  const canonTarget = await canonical(fs, target);
  for (const input of options.inputs) {
    if (overlaps(canonTarget, await canonical(fs, resolve(input)))) {
      throw new PruneError(
        "TENSOR_IO_EXISTS",
        `${flag} ${out}: refusing to write over an input of this computation. Expected an output folder apart from ${input}, got an overlapping path.`,
      );
    }
  }
  // The nearest existing ancestor (the output itself when it exists).
  let existing = target;
  let st = await fs.stat(existing).catch((e: unknown) => e as Error);
  while (st instanceof Error) {
    if (errnoOf(st) === "ENOTDIR") {
      throw new PruneError(
        "TENSOR_IO_EXISTS",
        `${flag} ${out}: a file is in the way. Expected a folder path, got a path under a regular file.`,
      );
    }
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
    st = await fs.stat(existing).catch((e: unknown) => e as Error);
  }
  if (st instanceof Error)
    throw new PruneError("TENSOR_IO_WRITE_FAILED", `${flag} ${out}: cannot stat it (${errnoOf(st)}).`);
  if (!st.isDirectory()) {
    throw new PruneError(
      "TENSOR_IO_EXISTS",
      existing === target
        ? `${flag} ${out}: a file is in the way. Expected a folder or nothing, got a file.`
        : `${flag} ${out}: a file is in the way. Expected a folder path, got ${existing}, a file, as a parent.`,
    );
  }
  if (existing === target) {
    const entries = await fs.readdir(target);
    if (entries.length > 0 && !options.overwrite) {
      throw new PruneError(
        "TENSOR_IO_EXISTS",
        `${flag} ${out}: destination folder is not empty. Expected an empty or new folder (or --overwrite), got ${entries.length} entries.`,
      );
    }
  }
  // Where the writer creates its staging folder: beside the output, in its parent.
  const parent = dirname(target);
  const probeIn = existing === target ? parent : existing;
  const probe = join(probeIn, `.mama-prune-preflight-${randomUUID()}`);
  try {
    await fs.mkdir(probe);
  } catch (e) {
    throw new PruneError(
      "TENSOR_IO_WRITE_FAILED",
      `${flag} ${out}: cannot create anything in ${probeIn} (${errnoOf(e)}: read-only or no permission). Expected a writable folder, checked before any work.`,
      { cause: e },
    );
  }
  await fs.rmdir(probe).catch(() => undefined);
  if (fs.statfs !== undefined) {
    const s = await fs.statfs(probeIn).catch(() => undefined);
    if (s !== undefined) {
      const free = Number(s.bavail) * Number(s.bsize);
      const need = options.estimatedBytes + MIB;
      if (Number.isFinite(free) && free < need) {
        throw new PruneError(
          "TENSOR_IO_WRITE_FAILED",
          `${flag} ${out}: not enough free space on the file system of ${probeIn}. Expected at least ${(need / MIB).toFixed(1)} MiB (the estimated output), got ${(free / MIB).toFixed(1)} MiB free.`,
        );
      }
    }
  }
}

/**
 * Bytes of the input checkpoint's weights: the file's size, or the sum of a folder's
 * `*.safetensors` files.
 */
export async function checkpointBytes(path: string, fs: PreflightFs = NODE_PREFLIGHT_FS): Promise<number> {
  const st = await fs.stat(path);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const f of await fs.readdir(path)) {
    if (f.endsWith(".safetensors")) total += (await fs.stat(join(path, f))).size;
  }
  return total;
}

/**
 * Estimated size of the pruned folder: the input's size for dense storage (same dtypes), and for
 * the sparse formats the input's size × (1 − sparsity) plus a bitmask of one bit per weight (at
 * most 1/16 of 16-bit data), never below a tenth of the input. An estimate, used to refuse runs
 * that cannot fit, not a promise.
 *
 * @example
 * estimateOutputBytes(1000, "dense", 0.5); // 1000
 */
export function estimateOutputBytes(inputBytes: number, format: string, sparsity: number): number {
  if (format === "dense") return inputBytes;
  return Math.ceil(Math.max(0.1, 1 - sparsity) * inputBytes + inputBytes / 16);
}
