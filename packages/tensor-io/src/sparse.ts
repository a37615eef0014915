// Sparse checkpoints in the compressed-tensors layouts: the stored tensors of one weight
// (compressWeight), the config.json record (sparsityConfig / sparseFormatOf), and transparent
// decompression of a stored checkpoint (decompressSparseReader). The per-tensor codecs and the layout
// description live in sparse-codec.ts.

import { PruneError, quoteUntrusted } from "@mama-prune/core";
import { checkTensorRange } from "./byte-source.ts";
import { bytesToF32, dtypeByteSize } from "./dtype.ts";
import {
  bitmaskRowBytes,
  decodeSparseRaw,
  encodeSparseRaw,
  exclusivePrefixSum,
  type SparseFormat,
} from "./sparse-codec.ts";
import type { DType, TensorInfo, TensorReader } from "./types.ts";

export {
  bitmaskRowBytes,
  decodeSparse24,
  decodeSparseBitmask,
  decodeSparseRaw,
  encodeSparse24,
  encodeSparseBitmask,
  encodeSparseRaw,
  type RawSparse,
  type Sparse24Tensor,
  type SparseBitmaskTensor,
  type SparseFormat,
} from "./sparse-codec.ts";

// ---- Checkpoint entries ----

/**
 * Little-endian int64 bytes of safe integers (the dtype compressed-tensors uses for `.shape` and
 * `.row_offsets`).
 *
 * @throws RangeError when a value is not an integer.
 * @example
 * i64Bytes([1]); // Uint8Array [1, 0, 0, 0, 0, 0, 0, 0]
 */
export function i64Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 8); // (n * 8,)
  const dv = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) dv.setBigInt64(8 * i, BigInt(values[i]!), true);
  return out;
}

/** One stored tensor produced by {@link compressWeight}: name, dtype, shape and raw bytes. */
export interface RawTensorEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/**
 * The stored tensors that replace a dense 2-D weight `<p>.weight` in `format` (see the layout at
 * the top of this file). The prefix drops a trailing ".weight", as compressed-tensors does.
 *
 * @throws PruneError TENSOR_IO_UNSUPPORTED for a tensor that is not 2-D; MASK_INVALID /
 *   SHAPE_MISMATCH from {@link encodeSparseRaw}.
 * @example
 * compressWeight("l.weight", "F32", [2, 4], bytes, "sparse-bitmask").map((e) => e.name);
 * // ["l.shape", "l.compressed", "l.bitmask", "l.row_offsets"]
 */
export function compressWeight(
  name: string,
  dtype: DType,
  shape: readonly number[],
  data: Uint8Array,
  format: "sparse-bitmask" | "sparse-24-bitmask",
): RawTensorEntry[] {
  if (shape.length !== 2) {
    throw new PruneError(
      "TENSOR_IO_UNSUPPORTED",
      `${name}: ${format} stores 2-D weights only. Expected a shape of length 2, got [${shape.join(", ")}].`,
    );
  }
  const [rows, cols] = shape as [number, number];
  const prefix = name.endsWith(".weight") ? name.slice(0, -".weight".length) : name;
  const raw = encodeSparseRaw(
    data,
    dtype,
    rows,
    cols,
    format === "sparse-bitmask" ? "unstructured" : "2:4",
    name,
  );
  const nnz = raw.values.byteLength / dtypeByteSize(dtype);
  const mask: RawTensorEntry = {
    name: `${prefix}.bitmask`,
    dtype: "U8",
    shape: [rows, bitmaskRowBytes(cols)],
    data: raw.bitmask,
  };
  if (format === "sparse-bitmask") {
    return [
      { name: `${prefix}.shape`, dtype: "I64", shape: [2], data: i64Bytes([rows, cols]) },
      { name: `${prefix}.compressed`, dtype, shape: [nnz], data: raw.values },
      mask,
      {
        name: `${prefix}.row_offsets`,
        dtype: "I64",
        shape: [rows],
        data: i64Bytes(exclusivePrefixSum(raw.rowCounts)),
      },
    ];
  }
  return [
    { name: `${prefix}.shape`, dtype: "I64", shape: [2, 1], data: i64Bytes([rows, cols]) },
    { name: `${prefix}.compressed`, dtype, shape: [rows, cols / 2], data: raw.values },
    mask,
  ];
}

// ---- config.json ----

/** `quantization_config.sparsity_config` as compressed-tensors writes it. */
export interface SparsityConfig {
  readonly format: SparseFormat;
  /** Fraction of zeros over the targeted weights, 0..1. */
  readonly global_sparsity: number;
  /** "unstructured" or "2:4". */
  readonly sparsity_structure: string;
  /** Module names, class names ("Linear") or "re:"-prefixed regexes the format applies to. */
  readonly targets: readonly string[];
  /** Modules left dense. */
  readonly ignore: readonly string[];
}

/** Options of {@link sparsityConfig}. */
export interface SparsityConfigOptions {
  readonly format: SparseFormat;
  /** Fraction of zeros over the targeted weights, in [0, 1]. */
  readonly globalSparsity: number;
  /** Default: "2:4" for sparse-24-bitmask, else "unstructured". */
  readonly sparsityStructure?: string;
  /** Default `["Linear"]`. */
  readonly targets?: readonly string[];
  /** Default `["lm_head"]`. */
  readonly ignore?: readonly string[];
}

/**
 * Build `quantization_config.sparsity_config` for config.json, as compressed-tensors records it.
 *
 * @throws RangeError when `globalSparsity` is outside [0, 1].
 * @example
 * sparsityConfig({ format: "sparse-bitmask", globalSparsity: 0.5 });
 * // { format: "sparse-bitmask", global_sparsity: 0.5, sparsity_structure: "unstructured", targets: ["Linear"], ignore: ["lm_head"] }
 */
export function sparsityConfig(options: SparsityConfigOptions): SparsityConfig {
  const s = options.globalSparsity;
  if (!(typeof s === "number" && s >= 0 && s <= 1)) {
    throw new RangeError(`sparsityConfig: globalSparsity must be in [0, 1], got ${s}`);
  }
  return {
    format: options.format,
    global_sparsity: s,
    sparsity_structure:
      options.sparsityStructure ?? (options.format === "sparse-24-bitmask" ? "2:4" : "unstructured"),
    targets: [...(options.targets ?? ["Linear"])],
    ignore: [...(options.ignore ?? ["lm_head"])],
  };
}

/**
 * The sparse format recorded in a config.json object (`quantization_config.sparsity_config.format`),
 * or "dense" when none is recorded.
 *
 * @throws PruneError TENSOR_IO_UNSUPPORTED for an unknown format or a compressed-tensors
 *   quantization scheme (this package stores sparsity only).
 * @example
 * sparseFormatOf({ quantization_config: { sparsity_config: { format: "sparse-bitmask" } } }); // "sparse-bitmask"
 */
export function sparseFormatOf(
  config: Readonly<Record<string, unknown>>,
  where = "config.json",
): SparseFormat {
  const q = config["quantization_config"];
  if (q === undefined || q === null || typeof q !== "object") return "dense";
  const qc = q as Record<string, unknown>;
  const groups = qc["config_groups"];
  if (groups !== undefined && groups !== null && Object.keys(groups as object).length > 0) {
    throw new PruneError(
      "TENSOR_IO_UNSUPPORTED",
      `${where}: quantization_config.config_groups describes quantized weights. Expected sparsity only, got groups ${Object.keys(groups as object).join(", ")}.`,
    );
  }
  const sc = qc["sparsity_config"];
  if (sc === undefined || sc === null) return "dense";
  const format = (sc as Record<string, unknown>)["format"];
  if (format === "dense" || format === "sparse-bitmask" || format === "sparse-24-bitmask") return format;
  throw new PruneError(
    "TENSOR_IO_UNSUPPORTED",
    `${where}: quantization_config.sparsity_config.format is not supported. Expected "dense", "sparse-bitmask" or "sparse-24-bitmask", got ${JSON.stringify(format)}.`,
  );
}

// ---- Reading: transparent decompression ----

function readInts(bytes: Uint8Array, dtype: DType, where: string): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = dtypeByteSize(dtype);
  const out: number[] = [];
  for (let o = 0; o < bytes.byteLength; o += size) {
    let v: number;
    if (dtype === "I64") v = Number(dv.getBigInt64(o, true));
    else if (dtype === "U64") v = Number(dv.getBigUint64(o, true));
    else if (dtype === "I32") v = dv.getInt32(o, true);
    else if (dtype === "U32") v = dv.getUint32(o, true);
    else {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${where}: integer tensor has dtype ${dtype}. Expected I64, U64, I32 or U32, got ${dtype}.`,
      );
    }
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${where}: value out of range. Expected a non-negative integer, got ${v}.`,
      );
    }
    out.push(v);
  }
  return out;
}

interface SparseGroup {
  readonly prefix: string;
  readonly info: TensorInfo;
  readonly structure: "unstructured" | "2:4";
  readonly hasOffsets: boolean;
}

/**
 * Wrap a reader of a checkpoint stored in a compressed-tensors sparse layout so that it lists and
 * reads dense weights: each `<p>.shape/.compressed/.bitmask[/.row_offsets]` group appears as
 * `<p>.weight` (dtype of `.compressed`), decompressed and validated when read. Other tensors pass
 * through. The small `.shape` tensors are read up front.
 *
 * @param format The recorded format ({@link sparseFormatOf}); "dense" returns `reader` unchanged.
 * @throws PruneError TENSOR_IO_MALFORMED naming the tensor when a group is incomplete or its parts
 *   have inconsistent shapes or dtypes (at open), or its data is inconsistent (at read).
 * @example
 * const dense = await decompressSparseReader(reader, "sparse-bitmask");
 * await dense.readF32("model.layers.0.self_attn.q_proj.weight");
 */
export async function decompressSparseReader(
  reader: TensorReader,
  format: SparseFormat,
): Promise<TensorReader> {
  if (format === "dense") return reader;
  const structure = format === "sparse-24-bitmask" ? "2:4" : "unstructured";
  const src = reader.source;
  const bad = (what: string): PruneError => new PruneError("TENSOR_IO_MALFORMED", `${src}: ${what}`);
  const groups = new Map<string, SparseGroup>(); // dense name → group
  const partOf = new Set<string>();
  for (const t of reader.list()) {
    if (!t.name.endsWith(".bitmask")) continue;
    const prefix = t.name.slice(0, -".bitmask".length);
    const parts = [
      ".shape",
      ".compressed",
      ".bitmask",
      ...(format === "sparse-bitmask" ? [".row_offsets"] : []),
    ];
    for (const p of parts) {
      if (!reader.has(prefix + p)) {
        throw bad(
          `sparse weight ${quoteUntrusted(prefix)} is incomplete. Expected tensor ${quoteUntrusted(`${prefix}${p}`)} (${format}), got none.`,
        );
      }
    }
    const shapeInfo = reader.info(`${prefix}.shape`);
    const dims = readInts(
      await reader.readRaw(`${prefix}.shape`),
      shapeInfo.dtype,
      `${src}: ${quoteUntrusted(`${prefix}.shape`)}`,
    );
    if (dims.length !== 2) {
      throw bad(
        `${quoteUntrusted(`${prefix}.shape`)} must hold a 2-D shape. Expected 2 values, got [${dims.join(", ")}].`,
      );
    }
    const [rows, cols] = dims as [number, number];
    // Positive and bounded: a (huge, 0) shape would need no bitmask bytes yet loop over every row.
    if (rows < 1 || cols < 1 || rows > 2 ** 31 || cols > 2 ** 31) {
      throw bad(
        `${quoteUntrusted(`${prefix}.shape`)} is out of range. Expected dims in [1, 2^31], got [${rows}, ${cols}].`,
      );
    }
    if (format === "sparse-bitmask") {
      const offs = reader.info(`${prefix}.row_offsets`);
      const n = offs.shape.reduce((a, b) => a * b, 1);
      if (n !== rows) {
        throw bad(
          `${quoteUntrusted(`${prefix}.row_offsets`)} has the wrong length for ${rows} rows. Expected ${rows} values, got ${n}.`,
        );
      }
    }
    const mask = reader.info(`${prefix}.bitmask`);
    if (mask.dtype !== "U8" && mask.dtype !== "I8") {
      throw bad(
        `${quoteUntrusted(`${prefix}.bitmask`)} has dtype ${mask.dtype}. Expected U8, got ${mask.dtype}.`,
      );
    }
    if (mask.byteLength !== rows * bitmaskRowBytes(cols)) {
      throw bad(
        `${quoteUntrusted(`${prefix}.bitmask`)} does not fit shape [${rows}, ${cols}]. Expected ${rows * bitmaskRowBytes(cols)} bytes, got ${mask.byteLength}.`,
      );
    }
    const values = reader.info(`${prefix}.compressed`);
    const size = dtypeByteSize(values.dtype);
    if (structure === "2:4" && (cols % 4 !== 0 || values.byteLength !== (rows * cols * size) / 2)) {
      throw bad(
        `${quoteUntrusted(`${prefix}.compressed`)} does not fit 2:4 shape [${rows}, ${cols}]. Expected ${rows * (cols / 2)} values and cols divisible by 4, got ${values.byteLength / size} values.`,
      );
    }
    if (values.byteLength > rows * cols * size) {
      throw bad(
        `${quoteUntrusted(`${prefix}.compressed`)} holds more values than [${rows}, ${cols}]. Expected at most ${rows * cols}, got ${values.byteLength / size}.`,
      );
    }
    const denseName = `${prefix}.weight`;
    if (reader.has(denseName)) {
      throw bad(
        `${quoteUntrusted(denseName)} is stored both dense and as ${format}. Expected one of them, got both.`,
      );
    }
    groups.set(denseName, {
      prefix,
      structure,
      hasOffsets: format === "sparse-bitmask",
      info: { name: denseName, dtype: values.dtype, shape: [rows, cols], byteLength: rows * cols * size },
    });
    for (const p of parts) partOf.add(prefix + p);
  }
  const infos: TensorInfo[] = [];
  const seenGroups = new Set<string>();
  for (const t of reader.list()) {
    if (!partOf.has(t.name)) {
      infos.push(t);
      continue;
    }
    const prefix = t.name.slice(0, t.name.lastIndexOf("."));
    const g = groups.get(`${prefix}.weight`);
    if (g !== undefined && !seenGroups.has(g.info.name)) {
      seenGroups.add(g.info.name);
      infos.push(g.info);
    }
  }
  const byName = new Map(infos.map((t) => [t.name, t]));
  const info = (name: string): TensorInfo => {
    const t = byName.get(name);
    if (t === undefined) {
      throw new PruneError(
        "TENSOR_IO_NOT_FOUND",
        `${src}: no tensor named ${quoteUntrusted(name)} (after ${format} decompression).`,
      );
    }
    return t;
  };
  const readRaw = async (name: string): Promise<Uint8Array> => {
    const g = groups.get(name);
    if (g === undefined) {
      info(name);
      return reader.readRaw(name);
    }
    const [rows, cols] = g.info.shape as [number, number];
    const values = await reader.readRaw(`${g.prefix}.compressed`);
    const mask = await reader.readRaw(`${g.prefix}.bitmask`);
    let offsets: number[] | undefined;
    if (g.hasOffsets) {
      const oi = reader.info(`${g.prefix}.row_offsets`);
      offsets = readInts(
        await reader.readRaw(`${g.prefix}.row_offsets`),
        oi.dtype,
        `${src}: ${quoteUntrusted(`${g.prefix}.row_offsets`)}`,
      );
    }
    return decodeSparseRaw(
      values,
      mask,
      g.info.dtype,
      rows,
      cols,
      g.structure,
      `${src}: ${quoteUntrusted(name)}`,
      offsets,
    );
  };
  return {
    source: src,
    list: (): readonly TensorInfo[] => infos,
    has: (name: string): boolean => byName.has(name),
    info,
    readRaw,
    // Parts of dense tensors are read as parts; a compressed weight is decompressed whole, then cut.
    ...(reader.readRawRange !== undefined
      ? {
          readRawRange: async (name: string, offset: number, length: number): Promise<Uint8Array> => {
            const g = groups.get(name);
            if (g === undefined) {
              info(name);
              return reader.readRawRange!(name, offset, length);
            }
            checkTensorRange(`${src}: ${quoteUntrusted(name)}`, offset, length, g.info.byteLength);
            return (await readRaw(name)).slice(offset, offset + length);
          },
        }
      : {}),
    readF32: async (name: string): Promise<Float32Array> => {
      const g = groups.get(name);
      if (g === undefined) {
        info(name);
        return reader.readF32(name);
      }
      return bytesToF32(await readRaw(name), g.info.dtype, `${src}: ${quoteUntrusted(name)}`);
    },
    close: (): Promise<void> => reader.close(),
  };
}
