// RoPE inverse frequencies, plain or scaled per a Hugging Face `rope_scaling` entry.

import { PruneError, truncateForMessage } from "@mama-prune/core";

/**
 * A parsed `rope_scaling` of config.json (absent, null and `rope_type: "default"` parse to no scaling).
 *
 * - `linear`: positions divided by `factor` (≡ every inverse frequency divided by `factor`).
 * - `dynamic`: NTK-aware base scaling that Hugging Face applies only once a sequence is longer than
 *   `originalMaxPositionEmbeddings`; up to that length it is plain RoPE, and the model refuses longer
 *   sequences (its `maxPositionEmbeddings` is capped there), so the frequencies are exactly plain RoPE's.
 * - `llama3`: Llama 3.1/3.2 frequency-dependent scaling (low frequencies divided by `factor`, high
 *   ones unchanged, a smooth blend between).
 */
export type RopeScaling =
  | { readonly type: "linear"; readonly factor: number }
  | { readonly type: "dynamic"; readonly factor: number; readonly originalMaxPositionEmbeddings: number }
  | {
      readonly type: "llama3";
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

/** The RoPE types {@link parseRopeScaling} accepts. */
export const ROPE_TYPES: readonly string[] = ["default", "linear", "dynamic", "llama3"];

function invalid(source: string, key: string, expected: string, got: unknown): PruneError {
  return new PruneError(
    "CONFIG_INVALID",
    `${source}: invalid "${key}". Expected ${expected}, got ${truncateForMessage(got)}.`,
  );
}

function num(o: Readonly<Record<string, unknown>>, key: string, source: string, integer = false): number {
  const v = o[key];
  const k = `rope_scaling.${key}`;
  if (v === undefined || v === null) {
    throw new PruneError(
      "CONFIG_INVALID",
      `${source}: missing required key "${k}". Expected a positive ${integer ? "integer" : "number"}, got nothing.`,
    );
  }
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw invalid(source, k, `a positive ${integer ? "integer" : "number"}`, v);
  }
  return v;
}

/**
 * Parse a config.json `rope_scaling` entry. The type is `rope_type`, else the legacy `type` (as
 * transformers reads it).
 *
 * @param value The `rope_scaling` value (object, null or undefined).
 * @param source The config file, for messages.
 * @param maxPositionEmbeddings The config's `max_position_embeddings` (the `dynamic` threshold
 *   when `original_max_position_embeddings` is absent).
 * @returns The scaling, or undefined for none (absent, null, `"default"`).
 * @throws PruneError ARCH_UNSUPPORTED naming an unknown `rope_type` (e.g. "yarn", "longrope");
 *   CONFIG_INVALID naming a missing or invalid key (factor ≤ 0, low_freq_factor ≥ high_freq_factor, …).
 * @example
 * parseRopeScaling({ rope_type: "linear", factor: 2 }, "config.json", 4096); // { type: "linear", factor: 2 }
 */
export function parseRopeScaling(
  value: unknown,
  source: string,
  maxPositionEmbeddings: number,
): RopeScaling | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw invalid(source, "rope_scaling", "null or an object", value);
  }
  const o = value as Readonly<Record<string, unknown>>;
  const typeKey = o["rope_type"] !== undefined && o["rope_type"] !== null ? "rope_type" : "type";
  const type = o[typeKey];
  if (type === undefined || type === null) {
    throw new PruneError(
      "CONFIG_INVALID",
      `${source}: missing required key "rope_scaling.rope_type" (or "rope_scaling.type"). Expected one of ${ROPE_TYPES.join(", ")}, got nothing.`,
    );
  }
  if (typeof type !== "string") throw invalid(source, `rope_scaling.${typeKey}`, "a string", type);
  switch (type) {
    case "default":
      return undefined;
    case "linear":
      return { type, factor: num(o, "factor", source) };
    case "dynamic": {
      const factor = num(o, "factor", source);
      const orig =
        o["original_max_position_embeddings"] === undefined || o["original_max_position_embeddings"] === null
          ? maxPositionEmbeddings
          : num(o, "original_max_position_embeddings", source, true);
      return { type, factor, originalMaxPositionEmbeddings: Math.min(orig, maxPositionEmbeddings) };
    }
    case "llama3": {
      const factor = num(o, "factor", source);
      const lowFreqFactor = num(o, "low_freq_factor", source);
      const highFreqFactor = num(o, "high_freq_factor", source);
      const originalMaxPositionEmbeddings = num(o, "original_max_position_embeddings", source, true);
      if (highFreqFactor <= lowFreqFactor) {
        throw invalid(
          source,
          "rope_scaling.high_freq_factor",
          `a number greater than low_freq_factor (${lowFreqFactor})`,
          highFreqFactor,
        );
      }
      return { type, factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings };
    }
    default:
      throw new PruneError(
        "ARCH_UNSUPPORTED",
        `${source}: unsupported "rope_scaling.${typeKey}" "${truncateForMessage(type)}". Expected one of ${ROPE_TYPES.join(", ")}, got "${truncateForMessage(type)}".`,
      );
  }
}

/** What {@link ropeInverseFrequencies} needs of a config. */
export interface RopeParameters {
  /** Per-head width (even). */
  readonly headDim: number;
  /** RoPE base θ. */
  readonly ropeTheta: number;
  /** Scaling, if any. */
  readonly ropeScaling?: RopeScaling | undefined;
}

const f = Math.fround;

/**
 * RoPE inverse frequencies inv_freq[i] (i < headDim/2), float32 and rounded step by step as
 * transformers computes them in float32: plain `1 / θ^(2i/headDim)`, then per `ropeScaling`
 * (`linear`: ÷ factor; `dynamic`: unchanged, see {@link RopeScaling}; `llama3`: with
 * wavelen = 2π / inv, unchanged when wavelen < original/high_freq_factor, ÷ factor when
 * wavelen > original/low_freq_factor, else (1 − s)·inv/factor + s·inv with
 * s = (original/wavelen − low) / (high − low)). The rotation angle of position p is p·inv_freq[i].
 *
 * @throws RangeError when headDim is not a positive even integer or θ is not positive.
 * @example
 * ropeInverseFrequencies({ headDim: 4, ropeTheta: 10000 }); // Float32Array [1, 0.01]
 */
export function ropeInverseFrequencies(p: RopeParameters): Float32Array {
  const { headDim, ropeTheta: theta, ropeScaling: rs } = p;
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) {
    throw new RangeError(`ropeInverseFrequencies: headDim must be a positive even integer, got ${headDim}`);
  }
  if (!(theta > 0) || !Number.isFinite(theta)) {
    throw new RangeError(`ropeInverseFrequencies: ropeTheta must be a positive number, got ${theta}`);
  }
  const half = headDim / 2;
  const inv = new Float32Array(half); // (half,)
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(theta ** f((2 * i) / headDim)));
  if (rs === undefined || rs.type === "dynamic") return inv;
  const factor = f(rs.factor);
  if (rs.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] = f(inv[i]! / factor);
    return inv;
  }
  const orig = f(rs.originalMaxPositionEmbeddings);
  const low = f(rs.lowFreqFactor);
  const lowWavelen = f(rs.originalMaxPositionEmbeddings / rs.lowFreqFactor);
  const highWavelen = f(rs.originalMaxPositionEmbeddings / rs.highFreqFactor);
  const span = f(rs.highFreqFactor - rs.lowFreqFactor);
  const twoPi = f(2 * Math.PI);
  for (let i = 0; i < half; i++) {
    const x = inv[i]!;
    const wavelen = f(twoPi / x);
    if (wavelen < highWavelen) continue; // high frequency: unchanged
    if (wavelen > lowWavelen) {
      inv[i] = f(x / factor); // low frequency: interpolated like linear scaling
      continue;
    }
    const s = f(f(f(orig / wavelen) - low) / span);
    inv[i] = f(f(f(f(1 - s) * x) / factor) + f(s * x));
  }
  return inv;
}
