// One decoder block's forward pass — the only one in the repository: LlamaModel runs it for
// inference (windows and the KV cache) and @mama-prune/distill runs it for training, asking for the
// activations its backward pass needs.
import type { ComputeBackend } from "@mama-prune/core";
import type { AttentionHeads } from "./attention.ts";
import type { AttentionFn } from "./attention-backend.ts";
import type { LlamaConfig } from "./config.ts";
import { type FloatArray, rmsNorm, swiglu, zerosOf } from "./layers.ts";
import type { LinearName } from "./linears.ts";
import { applyRope, type RopeTable } from "./rotary.ts";

/** Capture hooks of {@link LlamaModel.runBlock}. */
export interface BlockHooks {
  /**
   * Called with the input X [rows, cols] of each linear, before the linear runs. q/k/v share one
   * input and gate/up share one input: the hook is called once per linear name with the same array.
   * The array is only valid during the call (copy it to keep it) and must not be modified.
   * A returned promise is awaited before the block continues.
   */
  onLinearInput?(name: LinearName, x: Float32Array, rows: number, cols: number): void | Promise<void>;
  /**
   * The caller needs only the linear inputs (calibration statistics), not the block's output: the
   * block stops right after handing down_proj's input to {@link BlockHooks.onLinearInput}, so
   * down_proj's product (about a quarter of a Llama block's linear FLOPs) and the residual add are
   * skipped, and the returned hidden states are an empty array. Every hook call is unchanged.
   */
  readonly inputsOnly?: boolean;
}

/** The weights of one decoder block. */
export interface DecoderBlockWeights {
  readonly inputNorm: FloatArray; // (hidden,)
  readonly postNorm: FloatArray; // (hidden,)
  readonly linears: Readonly<Record<LinearName, FloatArray>>; // each (out, in)
  readonly qBias: FloatArray | undefined; // (heads·headDim,)
  readonly kBias: FloatArray | undefined; // (kvHeads·headDim,)
  readonly vBias: FloatArray | undefined; // (kvHeads·headDim,)
  readonly oBias: FloatArray | undefined; // (hidden,)
}

/** y [rows, outDim] = x [rows, inDim] · w [outDim, inDim]ᵀ (+ bias [outDim]): a backend matmul. */
export type LinearFn = (
  x: FloatArray,
  w: FloatArray,
  rows: number,
  inDim: number,
  outDim: number,
  bias?: FloatArray,
) => Promise<FloatArray>;

/** Options of {@link decoderBlock}. */
export interface DecoderBlockOptions {
  /** Every matmul of the block (q, k, v, o, gate, up, down). */
  readonly linear: LinearFn;
  /** RoPE tables covering every position `position` returns. */
  readonly rope: RopeTable;
  /** Position of row r. */
  readonly position: (row: number) => number;
  /**
   * Fill `out` [rows, heads·headDim] with attention over q (after RoPE) [rows, heads·headDim] and
   * k (after RoPE) / v [rows, kvHeads·headDim]; e.g. {@link causalAttentionWindows} for windows, or
   * a KV cache plus {@link causalAttention}, or `windowAttention` of ./attention-backend.ts (which
   * may return a promise: it is awaited).
   */
  readonly attention: AttentionFn;
  /**
   * The SwiGLU activation on float32 operands when given (e.g. a backend's
   * {@link ComputeBackend.swiglu}, which must equal {@link swiglu} bit for bit); the plain-JS
   * {@link swiglu} otherwise.
   */
  readonly swiglu?: ((gate: Float32Array, up: Float32Array, out: Float32Array) => Promise<void>) | undefined;
  /** Capture hooks (float32 hidden states only). */
  readonly hooks?: BlockHooks | undefined;
  /** Keep every intermediate in {@link DecoderBlockResult.activations} (for a backward pass). */
  readonly saveActivations?: boolean;
}

/** The intermediates of one block forward, for a backward pass. */
export interface BlockActivations {
  readonly x: FloatArray; // (rows, H) block input
  readonly scales1: Float64Array; // (rows,) input RMSNorm scale per row
  readonly xn1: FloatArray; // (rows, H)
  readonly q: FloatArray; // (rows, qDim) after RoPE
  readonly k: FloatArray; // (rows, kvDim) after RoPE
  readonly v: FloatArray; // (rows, kvDim)
  readonly att: FloatArray; // (rows, qDim) attention output
  readonly h1: FloatArray; // (rows, H) after the attention residual
  readonly scales2: Float64Array; // (rows,) post-attention RMSNorm scale per row
  readonly xn2: FloatArray; // (rows, H)
  readonly g: FloatArray; // (rows, I) gate pre-activation
  readonly u: FloatArray; // (rows, I)
  readonly a: FloatArray; // (rows, I) silu(g)·u
}

/** Result of {@link decoderBlock}. */
export interface DecoderBlockResult {
  /** The block's output hidden states [rows, H] (a new array, same element type as the input). */
  readonly out: FloatArray;
  /** The intermediates, when `saveActivations` was set. */
  readonly activations: BlockActivations | undefined;
}

/**
 * One pre-norm decoder block over `rows` rows of hidden states [rows, hiddenSize]:
 * h1 = x + o(attention(rope(q(n1(x))), rope(k(n1(x))), v(n1(x)))), out = h1 + down(silu(gate(n2(h1)))·up(n2(h1))).
 * Arrays are float32 for inference and training or float64 for reference gradient checks (the
 * `linear` decides how products are computed). The input is not modified.
 *
 * @throws TypeError when hooks are given with non-float32 hidden states.
 * @example
 * const { out } = await decoderBlock(cfg, weights, hidden, rows, {
 *   linear: (x, w, m, k, n, bias) => backend.matmulTransB(x, w, m, k, n, bias ? { bias } : undefined),
 *   rope, position: (r) => r % seqLen,
 *   attention: (q, k, v, o) => causalAttentionWindows(q, k, v, o, batch, seqLen, cfg),
 * });
 */
export async function decoderBlock(
  cfg: LlamaConfig,
  L: DecoderBlockWeights,
  hidden: FloatArray, // (rows, hidden)
  rows: number,
  options: DecoderBlockOptions,
): Promise<DecoderBlockResult> {
  const { linear, rope, position } = options;
  const H = cfg.hiddenSize;
  const qDim = cfg.numHeads * cfg.headDim;
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const I = cfg.intermediateSize;
  const save = options.saveActivations === true;
  const hooks = options.hooks;
  if (hooks && !(hidden instanceof Float32Array)) {
    throw new TypeError("decoderBlock: hooks need float32 hidden states");
  }
  if (hooks?.inputsOnly === true && save) {
    throw new TypeError(
      "decoderBlock: hooks.inputsOnly skips down_proj, so saveActivations cannot be set with it",
    );
  }
  const hook = hooks?.onLinearInput?.bind(hooks);
  const heads: AttentionHeads = cfg;

  // Attention sub-block.
  const scales1 = save ? new Float64Array(rows) : undefined; // (rows,)
  const xn = rmsNorm(hidden, L.inputNorm, rows, H, cfg.rmsNormEps, zerosOf(hidden, rows * H), scales1); // (rows, H)
  if (hook) {
    await hook("q_proj", xn as Float32Array, rows, H);
    await hook("k_proj", xn as Float32Array, rows, H);
    await hook("v_proj", xn as Float32Array, rows, H);
  }
  const q = await linear(xn, L.linears.q_proj, rows, H, qDim, L.qBias); // (rows, qDim)
  const k = await linear(xn, L.linears.k_proj, rows, H, kvDim, L.kBias); // (rows, kvDim)
  const v = await linear(xn, L.linears.v_proj, rows, H, kvDim, L.vBias); // (rows, kvDim)
  applyRope(q, rows, heads.numHeads, cfg.headDim, rope, position);
  applyRope(k, rows, heads.numKvHeads, cfg.headDim, rope, position);
  const att = zerosOf(hidden, rows * qDim); // (rows, qDim)
  await options.attention(q, k, v, att);
  if (hook) await hook("o_proj", att as Float32Array, rows, qDim);
  const o = await linear(att, L.linears.o_proj, rows, qDim, H, L.oBias); // (rows, H)
  const h1 = zerosOf(hidden, rows * H); // (rows, H)
  for (let i = 0; i < h1.length; i++) h1[i] = hidden[i]! + o[i]!;

  // MLP sub-block: down(silu(gate(x)) · up(x)).
  const scales2 = save ? new Float64Array(rows) : undefined; // (rows,)
  const xn2 = rmsNorm(h1, L.postNorm, rows, H, cfg.rmsNormEps, zerosOf(hidden, rows * H), scales2); // (rows, H)
  if (hook) {
    await hook("gate_proj", xn2 as Float32Array, rows, H);
    await hook("up_proj", xn2 as Float32Array, rows, H);
  }
  const g = await linear(xn2, L.linears.gate_proj, rows, H, I); // (rows, I)
  const u = await linear(xn2, L.linears.up_proj, rows, H, I); // (rows, I)
  const aOut = save ? zerosOf(g, g.length) : g; // (rows, I), in place unless saving
  let a: FloatArray = aOut;
  if (
    options.swiglu &&
    g instanceof Float32Array &&
    u instanceof Float32Array &&
    aOut instanceof Float32Array
  ) {
    await options.swiglu(g, u, aOut);
  } else a = swiglu(g, u, aOut);
  if (hook) await hook("down_proj", a as Float32Array, rows, I);
  if (hooks?.inputsOnly === true) return { out: zerosOf(hidden, 0), activations: undefined };
  const d = await linear(a, L.linears.down_proj, rows, I, H); // (rows, H)
  const out = save ? zerosOf(hidden, rows * H) : h1; // (rows, H), in place unless saving
  for (let i = 0; i < h1.length; i++) out[i] = h1[i]! + d[i]!;
  const activations =
    scales1 && scales2 ? { x: hidden, scales1, xn1: xn, q, k, v, att, h1, scales2, xn2, g, u, a } : undefined;
  return { out, activations };
}
