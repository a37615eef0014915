// ---- Provenance of pruned folders: sha256 of inputs and outputs, pruning.json, folder checksums ----
//
// Hashes are computed while the files stream into the staging folder (a wrapper around tensor-io's
// WritableCheckpointDir), so `pruning.json` lists the sha256 of every other output file and is
// itself written before the atomic rename: a pruned folder never exists without its provenance.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { PruneError } from "@mama-prune/core";
import type { ByteSink, WritableCheckpointDir } from "@mama-prune/tensor-io";

/** File name of the provenance record written into every pruned folder. */
export const PROVENANCE_FILE = "pruning.json";

/** Files of a folder that count as its weights for {@link folderChecksum}. */
const WEIGHT_FILE = /\.safetensors$/;

/**
 * sha256 (lowercase hex) of a file, streamed (any size).
 *
 * @example
 * await sha256File("data/stories260K/stories260K.bin");
 */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    h.update(chunk as Uint8Array);
  }
  return h.digest("hex");
}

/**
 * The checksum of a checkpoint folder: the sha256 of the text made of one line
 * `<sha256 of the file>  <file name>\n` per `*.safetensors` file of the folder (shards included,
 * sorted by name in code-unit order) — exactly what `LC_ALL=C sha256sum *.safetensors | sha256sum`
 * prints in that folder. It covers every stored tensor byte (the index and config only say where
 * they are), so two folders with equal weights have equal checksums whatever their side files.
 *
 * @returns `folder-sha256:<hex>`, or undefined when the folder holds no safetensors file.
 * @example
 * await folderChecksum("wanda-50"); // "folder-sha256:3f1c…"
 */
export async function folderChecksum(dir: string): Promise<string | undefined> {
  const files = (await readdir(dir)).filter((f) => WEIGHT_FILE.test(f)).sort();
  if (files.length === 0) return undefined;
  let list = "";
  for (const f of files) list += `${await sha256File(join(dir, f))}  ${f}\n`;
  return `folder-sha256:${createHash("sha256").update(list).digest("hex")}`;
}

/**
 * The checksum reported for a model path: the file's sha256 (bare hex, as before), or for a folder
 * {@link folderChecksum}; undefined when neither applies.
 *
 * @example
 * await modelChecksum("data/stories260K/stories260K.bin"); // "07f9…"
 */
export async function modelChecksum(path: string): Promise<string | undefined> {
  const st = await stat(path).catch(() => null);
  if (st === null) return undefined;
  if (st.isDirectory()) return await folderChecksum(path);
  return st.isFile() ? await sha256File(path) : undefined;
}

/** One input of a computation with its checksum. */
export interface InputRecord {
  /** What it was used for: "model", "pre", "calibration", "tokenizer", "recipe". */
  readonly role: string;
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * Checksums of the files of an input: a file itself, or every regular file of a folder (one
 * record each, path `<folder>/<file>`).
 */
export async function inputRecords(role: string, path: string): Promise<InputRecord[]> {
  const st = await stat(path);
  if (!st.isDirectory()) return [{ role, path, bytes: st.size, sha256: await sha256File(path) }];
  const out: InputRecord[] = [];
  for (const f of (await readdir(path)).sort()) {
    const p = join(path, f);
    const fst = await stat(p);
    if (fst.isFile()) out.push({ role, path: p, bytes: fst.size, sha256: await sha256File(p) });
  }
  return out;
}

/** A staging folder that also knows the sha256 of every file written to it so far. */
export interface HashingCheckpointDir extends WritableCheckpointDir {
  /** sha256 (hex) and size of each file closed so far, by file name. */
  readonly outputs: ReadonlyMap<string, { readonly sha256: string; readonly bytes: number }>;
}

/**
 * Wrap a {@link WritableCheckpointDir} so that every file is hashed as it streams in, and on
 * `commit()` write `finalFile` (made by `finalize` from those hashes) before committing the inner
 * folder — everything is in place at the single atomic rename.
 *
 * @example
 * const dir = hashingCheckpointDir(await createCheckpointDirWriter(out), "pruning.json",
 *   async (outputs) => new TextEncoder().encode(JSON.stringify([...outputs])));
 * await writeHfCheckpoint(dir, { config, tensors });
 */
export function hashingCheckpointDir(
  inner: WritableCheckpointDir,
  finalFile: string,
  finalize: (outputs: HashingCheckpointDir["outputs"]) => Promise<Uint8Array>,
): HashingCheckpointDir {
  const outputs = new Map<string, { sha256: string; bytes: number }>();
  return {
    name: inner.name,
    outputs,
    create: async (file: string): Promise<ByteSink> => {
      const sink = await inner.create(file);
      const h = createHash("sha256");
      let bytes = 0;
      return {
        write: async (chunk) => {
          h.update(chunk);
          bytes += chunk.byteLength;
          await sink.write(chunk);
        },
        close: async () => {
          await sink.close();
          if (!outputs.has(file)) outputs.set(file, { sha256: h.digest("hex"), bytes });
        },
        abort: (reason) => sink.abort(reason),
      };
    },
    commit: async () => {
      const data = await finalize(outputs);
      const sink = await inner.create(finalFile);
      try {
        await sink.write(data);
        await sink.close();
      } catch (e) {
        await sink.abort(e).catch(() => undefined);
        throw e;
      }
      await inner.commit();
    },
    abort: (reason) => inner.abort(reason),
  };
}

/** Everything `pruning.json` records besides the checksums. */
export interface ProvenanceInput {
  readonly toolVersion: string;
  readonly method: {
    readonly name: string;
    readonly label: string;
    readonly scorer: string;
    readonly group: string;
    readonly redistribution: string;
    /** The method options as given (flags and recipe merged). */
    readonly given: unknown;
  };
  readonly sparsity: number | string;
  readonly overallSparsity: number;
  readonly allocation: unknown;
  readonly format: string;
  /** The recipe as given (parsed), with its path; absent without --recipe. */
  readonly recipe?: { readonly path: string; readonly content: unknown };
  readonly calibration?: {
    readonly text: string;
    readonly nsamples: number;
    readonly seqlen: number;
    readonly seed: number;
    readonly split?: number;
    /** True when nsamples/seqlen came from the default protocol rather than flags or the recipe. */
    readonly defaulted: boolean;
    readonly protocol: string;
  };
  readonly backend: string;
  readonly lenient: boolean;
  readonly inputs: readonly { readonly role: string; readonly path: string }[];
}

/**
 * The bytes of `pruning.json`: the run's method, sparsity, allocation, recipe, calibration protocol,
 * backend, tool version, the sha256 of every input file, of every output file and the folder
 * checksum ({@link folderChecksum} computed from the output hashes). `signal` is checked between
 * input files (hashing a large model takes a while).
 *
 * @throws PruneError ABORTED when `signal` fires.
 * @example
 * const bytes = await provenanceJson(info, dir.outputs);
 */
export async function provenanceJson(
  info: ProvenanceInput,
  outputs: HashingCheckpointDir["outputs"],
  signal?: AbortSignal,
): Promise<Uint8Array> {
  return await provenanceRecordJson(
    {
      tool: { name: "@mama-prune/cli", version: info.toolVersion },
      method: info.method,
      sparsity: info.sparsity,
      overallSparsity: info.overallSparsity,
      allocation: info.allocation,
      format: info.format,
      ...(info.recipe !== undefined ? { recipe: info.recipe } : {}),
      calibration: info.calibration ?? null,
      backend: info.backend,
      lenient: info.lenient,
    },
    info.inputs,
    outputs,
    signal,
    "prune",
  );
}

/**
 * The bytes of a provenance record: `head` (what the command records about its run, in order), then
 * the sha256 of every input file (`inputs`, hashed here, checking `signal` between files), of every
 * output file, and the folder checksum ({@link folderChecksum} from the output hashes). `pruning.json`
 * ({@link provenanceJson}) and the training commands' `training.json` are this record.
 *
 * @throws PruneError ABORTED when `signal` fires (the message names `command`).
 * @example
 * const bytes = await provenanceRecordJson({ tool }, [{ role: "model", path: "m.bin" }], dir.outputs);
 */
export async function provenanceRecordJson(
  head: Readonly<Record<string, unknown>>,
  inputList: readonly { readonly role: string; readonly path: string }[],
  outputs: HashingCheckpointDir["outputs"],
  signal?: AbortSignal,
  command = "prune",
): Promise<Uint8Array> {
  const inputs: InputRecord[] = [];
  for (const i of inputList) {
    if (signal?.aborted === true)
      throw new PruneError("ABORTED", `${command}: interrupted while hashing the inputs.`);
    inputs.push(...(await inputRecords(i.role, i.path)));
  }
  const files = [...outputs.keys()].sort();
  const weightList = files
    .filter((f) => WEIGHT_FILE.test(f))
    .map((f) => `${outputs.get(f)!.sha256}  ${f}\n`)
    .join("");
  const record = {
    ...head,
    inputs: inputs.map((r) => ({ ...r, name: basename(r.path) })),
    outputs: Object.fromEntries(files.map((f) => [f, outputs.get(f)!])),
    folderChecksum: `folder-sha256:${createHash("sha256").update(weightList).digest("hex")}`,
  };
  return new TextEncoder().encode(`${JSON.stringify(record, null, 2)}\n`);
}
