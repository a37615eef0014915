import { type ComputeBackend, PruneError, throwIfAborted } from "@mama-prune/core";
import type { Checkpoint } from "@mama-prune/tensor-io";
import { type LlamaConfig, parseLlamaConfig } from "./config.ts";
import { createCpuBackend } from "./cpu-backend.ts";
import { ropeInverseFrequencies } from "./rope-scaling.ts";

/** The seven prunable linears of a decoder block, by their Hugging Face module names. */
export type LinearName = "q_proj" | "k_proj" | "v_proj" | "o_proj" | "gate_proj" | "up_proj" | "down_proj";

/**
 * All {@link LinearName}s in execution order.
 *
 * @example
 * for (const name of LINEAR_NAMES) model.linearShape(0, name); // [out, in] of each linear of block 0
 */
export const LINEAR_NAMES: readonly LinearName[] = [
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
];

/** Capture hooks of {@link LlamaModel.runBlock}. */
export interface BlockHooks {
  /**
   * Called with the input X [rows, cols] of each linear, before the linear runs. q/k/v share one
   * input and gate/up share one input: the hook is called once per linear name with the same array.
   * The array is only valid during the call (copy it to keep it) and must not be modified.
   * A returned promise is awaited before the block continues.
   */
  onLinearInput?(name: LinearName, x: Float32Array, rows: number, cols: number): void | Promise<void>;
}

/** Options of {@link loadLlama}. */
export interface LoadLlamaOptions {
  /** Compute backend for every matmul (default: {@link createCpuBackend}). */
  readonly backend?: ComputeBackend;
  /** Cancels loading between tensors (rejects with ABORTED). */
  readonly signal?: AbortSignal;
}

/** An incremental decoding session with a key/value cache (see {@link LlamaModel.createSequence}). */
export interface LlamaSequence {
  /** Number of tokens consumed so far (= position of the next token). */
  readonly length: number;
  /**
   * Feed more tokens (positions `length`, `length + 1`, …) and return the logits [vocab] that
   * predict the token after the last one fed.
   *
   * @throws RangeError for an empty input, an id outside the vocabulary, or a sequence longer than
   *   `maxPositionEmbeddings`.
   */
  append(tokens: Int32Array): Promise<Float32Array>;
}

/** A loaded Llama-family decoder: full forward pass, per-token NLL and block-level execution. */
export interface LlamaModel {
  /** Parsed configuration. */
  readonly config: LlamaConfig;
  /** The backend that runs every matmul. */
  readonly backend: ComputeBackend;
  /**
   * Logits [batch·seqLen, vocab] for `batch` independent windows of `seqLen` tokens (row-major,
   * window after window); causal attention inside each window, positions 0..seqLen−1.
   *
   * @throws RangeError when `tokens.length !== batch·seqLen`, an id is outside the vocabulary, or
   *   seqLen exceeds `maxPositionEmbeddings`.
   */
  forward(tokens: Int32Array, batch: number, seqLen: number): Promise<Float32Array>;
  /**
   * Per-token negative log-likelihood (natural log) of window[1..] given its prefix: length
   * `window.length − 1`, log-sum-exp in float64. Holds one window's logits at most.
   */
  nll(window: Int32Array): Promise<Float64Array>;
  /** Embedding rows of the tokens: hidden states [tokens.length, hiddenSize]. */
  embed(tokens: Int32Array): Float32Array;
  /**
   * Run decoder block `layer` on hidden states [batch·seqLen, hiddenSize] and return the new hidden
   * states (a new array; the input is not modified). Hooks receive the input of each linear.
   */
  runBlock(
    layer: number,
    hidden: Float32Array,
    batch: number,
    seqLen: number,
    hooks?: BlockHooks,
  ): Promise<Float32Array>;
  /** Final RMSNorm and lm_head: logits [batch·seqLen, vocab] from hidden [batch·seqLen, hiddenSize]. */
  head(hidden: Float32Array, batch: number, seqLen: number): Promise<Float32Array>;
  /** The live weight [out, in] of one linear (not a copy: use {@link LlamaModel.setLinearWeight} to change it). */
  getLinearWeight(layer: number, name: LinearName): Float32Array;
  /**
   * Copy `w` [out, in] into one linear's weight, in place: the array returned by
   * {@link LlamaModel.getLinearWeight} keeps its identity, and the model's backend is told
   * (`ComputeBackend.invalidate`) so the next forward pass uses the new values.
   *
   * @throws RangeError when the length is wrong; TypeError when `w` is not a Float32Array;
   *   PruneError NUMERIC_FAILURE when `w` holds NaN or Infinity (the weight is left unchanged).
   */
  setLinearWeight(layer: number, name: LinearName, w: Float32Array): void;
  /** [out, in] of one linear. */
  linearShape(layer: number, name: LinearName): [number, number];
  /** The checkpoint tensor name of one linear's weight, e.g. `model.layers.3.mlp.down_proj.weight`. */
  parameterName(layer: number, name: LinearName): string;
  /** Start an incremental decoding session (key/value cache), used by generation. */
  createSequence(): LlamaSequence;
}

// ---- Weights ----

interface LayerWeights {
  inputNorm: Float32Array; // (hidden,)
  postNorm: Float32Array; // (hidden,)
  linears: Record<LinearName, Float32Array>; // each (out, in)
  qBias: Float32Array | undefined; // (heads·headDim,)
  kBias: Float32Array | undefined; // (kvHeads·headDim,)
  vBias: Float32Array | undefined; // (kvHeads·headDim,)
  oBias: Float32Array | undefined; // (hidden,)
}

const MODULE_OF: Readonly<Record<LinearName, "self_attn" | "mlp">> = {
  q_proj: "self_attn",
  k_proj: "self_attn",
  v_proj: "self_attn",
  o_proj: "self_attn",
  gate_proj: "mlp",
  up_proj: "mlp",
  down_proj: "mlp",
};

function linearShapeOf(cfg: LlamaConfig, name: LinearName): [number, number] {
  const h = cfg.hiddenSize;
  const qDim = cfg.numHeads * cfg.headDim;
  const kvDim = cfg.numKvHeads * cfg.headDim;
  switch (name) {
    case "q_proj":
      return [qDim, h];
    case "k_proj":
    case "v_proj":
      return [kvDim, h];
    case "o_proj":
      return [h, qDim];
    case "gate_proj":
    case "up_proj":
      return [cfg.intermediateSize, h];
    case "down_proj":
      return [h, cfg.intermediateSize];
  }
}

function linearParamName(layer: number, name: LinearName): string {
  return `model.layers.${layer}.${MODULE_OF[name]}.${name}.weight`;
}

async function readTensor(
  ckpt: Checkpoint,
  name: string,
  shape: readonly number[],
  signal: AbortSignal | undefined,
): Promise<Float32Array> {
  throwIfAborted(signal, `loadLlama(${ckpt.source})`);
  if (!ckpt.has(name)) {
    throw new PruneError(
      "TENSOR_IO_NOT_FOUND",
      `${ckpt.source}: missing tensor "${name}". Expected shape [${shape.join(", ")}], got no such tensor.`,
    );
  }
  const info = ckpt.info(name);
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${ckpt.source}: tensor "${name}" has the wrong shape. Expected [${shape.join(", ")}], got [${info.shape.join(", ")}].`,
    );
  }
  const data = await ckpt.readF32(name);
  const expected = shape.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${ckpt.source}: tensor "${name}" read ${data.length} values. Expected ${expected}, got ${data.length}.`,
    );
  }
  // A NaN/Inf weight would silently poison every logit: refuse it at load time (one cheap pass).
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (x - x !== 0) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${ckpt.source}: tensor "${name}" holds a non-finite value at index ${i}. Expected finite weights, got ${x}.`,
      );
    }
  }
  return data;
}

// ---- Elementwise helpers (plain JS; cheap next to the matmuls) ----

/**
 * RMSNorm as in HF LlamaRMSNorm and llama2.c: out = w · (x · 1/√(mean(x²) + eps)). The sum of
 * squares is accumulated in float64 (more accurate than float32, same result to ~1 ulp); the scale
 * is rounded to float32 and x·scale is rounded to float32 before multiplying by w, as the references do.
 */
function rmsNorm(x: Float32Array, w: Float32Array, rows: number, dim: number, eps: number): Float32Array {
  const out = new Float32Array(rows * dim); // (rows, dim)
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let j = 0; j < dim; j++) {
      const v = x[o + j]!;
      ss += v * v;
    }
    const scale = Math.fround(1 / Math.sqrt(Math.fround(Math.fround(ss / dim) + eps)));
    for (let j = 0; j < dim; j++) out[o + j] = w[j]! * Math.fround(x[o + j]! * scale);
  }
  return out;
}

/** Rotary tables cos/sin [positions, headDim/2], float32 like HF (inv_freq, angle, cos/sin in f32). */
interface RopeTable {
  positions: number;
  cos: Float32Array; // (positions, half)
  sin: Float32Array; // (positions, half)
}

function buildRope(positions: number, cfg: LlamaConfig): RopeTable {
  const invFreq = ropeInverseFrequencies(cfg); // (half,) plain or per cfg.ropeScaling
  const half = invFreq.length;
  const cos = new Float32Array(positions * half); // (positions, half)
  const sin = new Float32Array(positions * half); // (positions, half)
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(p * invFreq[i]!);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { positions, cos, sin };
}

/** HF rotate-half RoPE in place on rows [rows, heads·headDim]; row r is at position pos(r). */
function applyRope(
  x: Float32Array,
  rows: number,
  heads: number,
  headDim: number,
  rope: RopeTable,
  pos: (r: number) => number,
): void {
  const half = headDim / 2;
  const stride = heads * headDim;
  for (let r = 0; r < rows; r++) {
    const t = pos(r) * half;
    for (let h = 0; h < heads; h++) {
      const base = r * stride + h * headDim;
      for (let i = 0; i < half; i++) {
        const c = rope.cos[t + i]!;
        const s = rope.sin[t + i]!;
        const x1 = x[base + i]!;
        const x2 = x[base + i + half]!;
        x[base + i] = x1 * c - x2 * s;
        x[base + i + half] = x2 * c + x1 * s;
      }
    }
  }
}

/**
 * Causal (optionally sliding-window) grouped-query attention for `nQ` queries at positions
 * past..past+nQ−1 over keys/values at positions 0..past+nQ−1. Plain JS loops, not backend matmuls:
 * the loop skips the masked half that a full matmul per head would compute and throw away, and for
 * the shapes we run (head dim 8–128, ≤ 2k positions) attention is a minority of the block's flops.
 * Four consecutive queries of a head are processed together (a 4-query register tile: each key and
 * value element is loaded once for four multiply-adds), which halves the time of the one-query loop.
 * Scores, softmax and the weighted sum are float64; each query's output is divided by its softmax
 * normaliser once at the end.
 */
function attend(
  q: Float32Array, // (nQ, heads·headDim)
  k: Float32Array, // (past + nQ, kvHeads·headDim)
  v: Float32Array, // (past + nQ, kvHeads·headDim)
  out: Float32Array, // (nQ, heads·headDim)
  nQ: number,
  past: number,
  cfg: LlamaConfig,
): void {
  const hd = cfg.headDim;
  const qDim = cfg.numHeads * hd;
  const kvDim = cfg.numKvHeads * hd;
  const group = cfg.numHeads / cfg.numKvHeads;
  const scale = 1 / Math.sqrt(hd);
  const win = cfg.slidingWindow;
  const keys = past + nQ;
  const e0 = new Float64Array(keys); // (keys,) scores, then exp(score − max), of query 0 of the tile
  const e1 = new Float64Array(keys); // (keys,)
  const e2 = new Float64Array(keys); // (keys,)
  const e3 = new Float64Array(keys); // (keys,)
  const qt = new Float64Array(4 * hd); // (4, headDim) the tile's queries
  for (let h = 0; h < cfg.numHeads; h++) {
    const ko = Math.floor(h / group) * hd;
    for (let i0 = 0; i0 < nQ; i0 += 4) {
      const nb = Math.min(4, nQ - i0);
      // Tile rows beyond nQ repeat the last query (computed, never written).
      const i1 = i0 + Math.min(1, nb - 1);
      const i2 = i0 + Math.min(2, nb - 1);
      const i3 = i0 + Math.min(3, nb - 1);
      for (let d = 0; d < hd; d++) {
        qt[d] = q[i0 * qDim + h * hd + d]! * scale;
        qt[hd + d] = q[i1 * qDim + h * hd + d]! * scale;
        qt[2 * hd + d] = q[i2 * qDim + h * hd + d]! * scale;
        qt[3 * hd + d] = q[i3 * qDim + h * hd + d]! * scale;
      }
      const p0 = past + i0;
      const p1 = past + i1;
      const p2 = past + i2;
      const p3 = past + i3;
      const lo0 = win === undefined ? 0 : Math.max(0, p0 - win + 1);
      const lo1 = win === undefined ? 0 : Math.max(0, p1 - win + 1);
      const lo2 = win === undefined ? 0 : Math.max(0, p2 - win + 1);
      const lo3 = win === undefined ? 0 : Math.max(0, p3 - win + 1);
      // Scores over the union of the four key ranges [lo0, p3].
      for (let j = lo0; j <= p3; j++) {
        const kj = j * kvDim + ko;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let d = 0; d < hd; d++) {
          const kd = k[kj + d]!;
          s0 += qt[d]! * kd;
          s1 += qt[hd + d]! * kd;
          s2 += qt[2 * hd + d]! * kd;
          s3 += qt[3 * hd + d]! * kd;
        }
        e0[j] = s0;
        e1[j] = s1;
        e2[j] = s2;
        e3[j] = s3;
      }
      // Softmax numerators per query over its own range; masked keys get weight 0.
      const z0 = expRange(e0, lo0, p0, p3);
      const z1 = expRange(e1, lo1, p1, p3);
      const z2 = expRange(e2, lo2, p2, p3);
      const z3 = expRange(e3, lo3, p3, p3);
      for (let j = lo0; j < lo3; j++) e3[j] = 0;
      for (let j = lo0; j < lo2; j++) e2[j] = 0;
      for (let j = lo0; j < lo1; j++) e1[j] = 0;
      // Weighted sum of values.
      const o0 = i0 * qDim + h * hd;
      const o1 = i1 * qDim + h * hd;
      const o2 = i2 * qDim + h * hd;
      const o3 = i3 * qDim + h * hd;
      for (let d = 0; d < hd; d++) {
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        for (let j = lo0, vj = lo0 * kvDim + ko + d; j <= p3; j++, vj += kvDim) {
          const vd = v[vj]!;
          a0 += e0[j]! * vd;
          a1 += e1[j]! * vd;
          a2 += e2[j]! * vd;
          a3 += e3[j]! * vd;
        }
        out[o3 + d] = a3 / z3;
        out[o2 + d] = a2 / z2;
        out[o1 + d] = a1 / z1;
        out[o0 + d] = a0 / z0;
      }
    }
  }
}

/** In place: e[j] = exp(e[j] − max) for j in [lo, p], 0 for j in (p, end]; returns Σ. */
function expRange(e: Float64Array, lo: number, p: number, end: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let j = lo; j <= p; j++) if (e[j]! > max) max = e[j]!;
  let z = 0;
  for (let j = lo; j <= p; j++) {
    const x = Math.exp(e[j]! - max);
    e[j] = x;
    z += x;
  }
  for (let j = p + 1; j <= end; j++) e[j] = 0;
  return z;
}

// ---- Argument checks (programmer errors → RangeError) ----

function checkCount(where: string, label: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0)
    throw new RangeError(`${where}: ${label} must be a positive integer, got ${v}`);
}

function checkTokens(where: string, tokens: Int32Array, vocab: number): void {
  if (!(tokens instanceof Int32Array)) throw new TypeError(`${where}: tokens must be an Int32Array`);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t < 0 || t >= vocab) {
      throw new RangeError(`${where}: token ${i} is ${t}, outside the vocabulary [0, ${vocab})`);
    }
  }
}

// ---- The model ----

class Llama implements LlamaModel {
  readonly config: LlamaConfig;
  readonly backend: ComputeBackend;
  private readonly embedding: Float32Array; // (vocab, hidden)
  private readonly finalNorm: Float32Array; // (hidden,)
  private readonly lmHead: Float32Array; // (vocab, hidden), === embedding when tied
  private readonly layers: LayerWeights[];
  private rope: RopeTable;

  constructor(
    config: LlamaConfig,
    backend: ComputeBackend,
    embedding: Float32Array,
    finalNorm: Float32Array,
    lmHead: Float32Array,
    layers: LayerWeights[],
  ) {
    this.config = config;
    this.backend = backend;
    this.embedding = embedding;
    this.finalNorm = finalNorm;
    this.lmHead = lmHead;
    this.layers = layers;
    this.rope = buildRope(0, config);
  }

  private ropeFor(positions: number): RopeTable {
    if (this.rope.positions < positions) {
      const n = Math.min(this.config.maxPositionEmbeddings, Math.max(positions, 2 * this.rope.positions));
      this.rope = buildRope(n, this.config);
    }
    return this.rope;
  }

  private checkLayer(where: string, layer: number): LayerWeights {
    const l = Number.isInteger(layer) ? this.layers[layer] : undefined;
    if (l === undefined) {
      throw new RangeError(
        `${where}: layer must be an integer in [0, ${this.config.numLayers}), got ${layer}`,
      );
    }
    return l;
  }

  private checkName(where: string, name: LinearName): void {
    if (!LINEAR_NAMES.includes(name)) {
      throw new RangeError(
        `${where}: unknown linear "${String(name)}", expected one of ${LINEAR_NAMES.join(", ")}`,
      );
    }
  }

  private checkWindows(where: string, batch: number, seqLen: number): void {
    checkCount(where, "batch", batch);
    checkCount(where, "seqLen", seqLen);
    if (seqLen > this.config.maxPositionEmbeddings) {
      throw new RangeError(
        `${where}: seqLen ${seqLen} exceeds the model's max_position_embeddings ${this.config.maxPositionEmbeddings}`,
      );
    }
  }

  private checkHidden(where: string, hidden: Float32Array, rows: number): void {
    if (!(hidden instanceof Float32Array)) throw new TypeError(`${where}: hidden must be a Float32Array`);
    if (hidden.length !== rows * this.config.hiddenSize) {
      throw new RangeError(
        `${where}: hidden has ${hidden.length} elements, expected ${rows}·${this.config.hiddenSize} = ${rows * this.config.hiddenSize}`,
      );
    }
  }

  embed(tokens: Int32Array): Float32Array {
    checkTokens("LlamaModel.embed", tokens, this.config.vocabSize);
    const h = this.config.hiddenSize;
    const out = new Float32Array(tokens.length * h); // (tokens, hidden)
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      out.set(this.embedding.subarray(t * h, (t + 1) * h), i * h);
    }
    return out;
  }

  /**
   * One decoder block over `rows` rows. `pos(r)` gives row r's position; `attention` fills the
   * attention output from q/k/v (after RoPE), so the same code serves windows and the KV cache.
   */
  private async block(
    L: LayerWeights,
    hidden: Float32Array, // (rows, hidden)
    rows: number,
    maxPos: number,
    pos: (r: number) => number,
    attention: (q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array) => void,
    hooks: BlockHooks | undefined,
  ): Promise<Float32Array> {
    const cfg = this.config;
    const be = this.backend;
    const H = cfg.hiddenSize;
    const qDim = cfg.numHeads * cfg.headDim;
    const kvDim = cfg.numKvHeads * cfg.headDim;
    const I = cfg.intermediateSize;
    const hook = hooks?.onLinearInput?.bind(hooks);

    // Attention sub-block.
    const xn = rmsNorm(hidden, L.inputNorm, rows, H, cfg.rmsNormEps); // (rows, H)
    if (hook) {
      await hook("q_proj", xn, rows, H);
      await hook("k_proj", xn, rows, H);
      await hook("v_proj", xn, rows, H);
    }
    const q = await be.matmulTransB(
      xn,
      L.linears.q_proj,
      rows,
      H,
      qDim,
      L.qBias ? { bias: L.qBias } : undefined,
    ); // (rows, qDim)
    const k = await be.matmulTransB(
      xn,
      L.linears.k_proj,
      rows,
      H,
      kvDim,
      L.kBias ? { bias: L.kBias } : undefined,
    ); // (rows, kvDim)
    const v = await be.matmulTransB(
      xn,
      L.linears.v_proj,
      rows,
      H,
      kvDim,
      L.vBias ? { bias: L.vBias } : undefined,
    ); // (rows, kvDim)
    const rope = this.ropeFor(maxPos);
    applyRope(q, rows, cfg.numHeads, cfg.headDim, rope, pos);
    applyRope(k, rows, cfg.numKvHeads, cfg.headDim, rope, pos);
    const att = new Float32Array(rows * qDim); // (rows, qDim)
    attention(q, k, v, att);
    if (hook) await hook("o_proj", att, rows, qDim);
    const o = await be.matmulTransB(
      att,
      L.linears.o_proj,
      rows,
      qDim,
      H,
      L.oBias ? { bias: L.oBias } : undefined,
    ); // (rows, H)
    const h1 = new Float32Array(rows * H); // (rows, H)
    for (let i = 0; i < h1.length; i++) h1[i] = hidden[i]! + o[i]!;

    // MLP sub-block: down(silu(gate(x)) · up(x)).
    const xn2 = rmsNorm(h1, L.postNorm, rows, H, cfg.rmsNormEps); // (rows, H)
    if (hook) {
      await hook("gate_proj", xn2, rows, H);
      await hook("up_proj", xn2, rows, H);
    }
    const g = await be.matmulTransB(xn2, L.linears.gate_proj, rows, H, I); // (rows, I)
    const u = await be.matmulTransB(xn2, L.linears.up_proj, rows, H, I); // (rows, I)
    for (let i = 0; i < g.length; i++) {
      const a = g[i]!;
      g[i] = (a / (1 + Math.exp(-a))) * u[i]!;
    }
    if (hook) await hook("down_proj", g, rows, I);
    const d = await be.matmulTransB(g, L.linears.down_proj, rows, I, H); // (rows, H)
    for (let i = 0; i < h1.length; i++) h1[i] = h1[i]! + d[i]!;
    return h1;
  }

  async runBlock(
    layer: number,
    hidden: Float32Array,
    batch: number,
    seqLen: number,
    hooks?: BlockHooks,
  ): Promise<Float32Array> {
    const where = "LlamaModel.runBlock";
    const L = this.checkLayer(where, layer);
    this.checkWindows(where, batch, seqLen);
    const rows = batch * seqLen;
    this.checkHidden(where, hidden, rows);
    const cfg = this.config;
    const qDim = cfg.numHeads * cfg.headDim;
    const kvDim = cfg.numKvHeads * cfg.headDim;
    return this.block(
      L,
      hidden,
      rows,
      seqLen,
      (r) => r % seqLen,
      (q, k, v, out) => {
        for (let b = 0; b < batch; b++) {
          const r0 = b * seqLen;
          const r1 = r0 + seqLen;
          attend(
            q.subarray(r0 * qDim, r1 * qDim),
            k.subarray(r0 * kvDim, r1 * kvDim),
            v.subarray(r0 * kvDim, r1 * kvDim),
            out.subarray(r0 * qDim, r1 * qDim),
            seqLen,
            0,
            cfg,
          );
        }
      },
      hooks,
    );
  }

  async head(hidden: Float32Array, batch: number, seqLen: number): Promise<Float32Array> {
    const where = "LlamaModel.head";
    checkCount(where, "batch", batch);
    checkCount(where, "seqLen", seqLen);
    const rows = batch * seqLen;
    this.checkHidden(where, hidden, rows);
    return this.headRows(hidden, rows);
  }

  private headRows(hidden: Float32Array, rows: number): Promise<Float32Array> {
    const cfg = this.config;
    const xn = rmsNorm(hidden, this.finalNorm, rows, cfg.hiddenSize, cfg.rmsNormEps); // (rows, H)
    return this.backend.matmulTransB(xn, this.lmHead, rows, cfg.hiddenSize, cfg.vocabSize); // (rows, vocab)
  }

  async forward(tokens: Int32Array, batch: number, seqLen: number): Promise<Float32Array> {
    const where = "LlamaModel.forward";
    this.checkWindows(where, batch, seqLen);
    if (tokens.length !== batch * seqLen) {
      throw new RangeError(
        `${where}: tokens has ${tokens.length} elements, expected batch·seqLen = ${batch * seqLen}`,
      );
    }
    let h = this.embed(tokens); // (batch·seqLen, H)
    for (let l = 0; l < this.config.numLayers; l++) h = await this.runBlock(l, h, batch, seqLen);
    return this.headRows(h, batch * seqLen);
  }

  async nll(window: Int32Array): Promise<Float64Array> {
    const n = window.length;
    if (n < 2) throw new RangeError(`LlamaModel.nll: window must hold at least 2 tokens, got ${n}`);
    const V = this.config.vocabSize;
    const logits = await this.forward(window, 1, n); // (n, V)
    const out = new Float64Array(n - 1); // (n − 1,)
    for (let t = 0; t < n - 1; t++) {
      const row = t * V;
      let max = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < V; j++) if (logits[row + j]! > max) max = logits[row + j]!;
      let z = 0;
      for (let j = 0; j < V; j++) z += Math.exp(logits[row + j]! - max);
      out[t] = max + Math.log(z) - logits[row + window[t + 1]!]!;
    }
    return out;
  }

  getLinearWeight(layer: number, name: LinearName): Float32Array {
    const where = "LlamaModel.getLinearWeight";
    this.checkName(where, name);
    return this.checkLayer(where, layer).linears[name];
  }

  setLinearWeight(layer: number, name: LinearName, w: Float32Array): void {
    const where = "LlamaModel.setLinearWeight";
    this.checkName(where, name);
    const L = this.checkLayer(where, layer);
    const [o, i] = linearShapeOf(this.config, name);
    if (!(w instanceof Float32Array)) throw new TypeError(`${where}: w must be a Float32Array`);
    if (w.length !== o * i) {
      throw new RangeError(
        `${where}: ${linearParamName(layer, name)} needs ${o}·${i} = ${o * i} elements, got ${w.length}`,
      );
    }
    for (let i = 0; i < w.length; i++) {
      const x = w[i]!;
      if (x - x !== 0) {
        throw new PruneError(
          "NUMERIC_FAILURE",
          `${where}: ${linearParamName(layer, name)} has a non-finite value at index ${i}. Expected finite weights, got ${x}.`,
        );
      }
    }
    L.linears[name].set(w);
    this.backend.invalidate(L.linears[name]);
  }

  linearShape(layer: number, name: LinearName): [number, number] {
    const where = "LlamaModel.linearShape";
    this.checkName(where, name);
    this.checkLayer(where, layer);
    return linearShapeOf(this.config, name);
  }

  parameterName(layer: number, name: LinearName): string {
    const where = "LlamaModel.parameterName";
    this.checkName(where, name);
    this.checkLayer(where, layer);
    return linearParamName(layer, name);
  }

  createSequence(): LlamaSequence {
    const model = this;
    const cfg = this.config;
    const kvDim = cfg.numKvHeads * cfg.headDim;
    let capacity = 0;
    let length = 0;
    const kCache: Float32Array[] = []; // per layer (capacity, kvDim)
    const vCache: Float32Array[] = []; // per layer (capacity, kvDim)
    const grow = (needed: number): void => {
      if (needed <= capacity) return;
      const cap = Math.min(cfg.maxPositionEmbeddings, Math.max(needed, 2 * capacity, 64));
      for (let l = 0; l < cfg.numLayers; l++) {
        const nk = new Float32Array(cap * kvDim); // (cap, kvDim)
        const nv = new Float32Array(cap * kvDim); // (cap, kvDim)
        const ok = kCache[l];
        const ov = vCache[l];
        if (ok) nk.set(ok.subarray(0, length * kvDim));
        if (ov) nv.set(ov.subarray(0, length * kvDim));
        kCache[l] = nk;
        vCache[l] = nv;
      }
      capacity = cap;
    };
    return {
      get length(): number {
        return length;
      },
      async append(tokens: Int32Array): Promise<Float32Array> {
        const where = "LlamaSequence.append";
        const n = tokens.length;
        if (n === 0) throw new RangeError(`${where}: tokens is empty`);
        if (length + n > cfg.maxPositionEmbeddings) {
          throw new RangeError(
            `${where}: ${length + n} tokens exceed the model's max_position_embeddings ${cfg.maxPositionEmbeddings}`,
          );
        }
        let h = model.embed(tokens); // (n, H)
        grow(length + n);
        const past = length;
        for (let l = 0; l < cfg.numLayers; l++) {
          const kc = kCache[l]!;
          const vc = vCache[l]!;
          h = await model.block(
            model.layers[l]!,
            h,
            n,
            past + n,
            (r) => past + r,
            (q, k, v, out) => {
              kc.set(k, past * kvDim);
              vc.set(v, past * kvDim);
              attend(q, kc, vc, out, n, past, cfg);
            },
            undefined,
          );
        }
        length = past + n;
        return model.headRows(h.subarray((n - 1) * cfg.hiddenSize), 1);
      },
    };
  }
}

/**
 * Load a Llama-family decoder (Llama, Mistral, Qwen2) from a checkpoint, tensor by tensor: every
 * expected tensor (Hugging Face names) must exist with the expected shape; all are converted to
 * float32 and held in memory.
 *
 * @param checkpoint A tensor-io Checkpoint (HF folder, safetensors file or llama2.c file).
 * @param options Backend (default plain JS) and abort signal.
 * @throws PruneError CONFIG_INVALID / ARCH_UNSUPPORTED from {@link parseLlamaConfig};
 *   TENSOR_IO_NOT_FOUND for a missing tensor, SHAPE_MISMATCH for a wrong shape and
 *   TENSOR_IO_MALFORMED for a NaN/Inf value (all name the tensor and the checkpoint); ABORTED when
 *   the signal fires.
 * @example
 * const model = await loadLlama(await readLlama2c(bytesSource(bytes)));
 * const logits = await model.forward(new Int32Array([1, 403, 407]), 1, 3); // (3, 512)
 */
export async function loadLlama(checkpoint: Checkpoint, options: LoadLlamaOptions = {}): Promise<LlamaModel> {
  const cfg = parseLlamaConfig(checkpoint.config, `${checkpoint.source} config`);
  const signal = options.signal;
  const H = cfg.hiddenSize;
  const qDim = cfg.numHeads * cfg.headDim;
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const embedding = await readTensor(checkpoint, "model.embed_tokens.weight", [cfg.vocabSize, H], signal);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    const linears = {} as Record<LinearName, Float32Array>;
    for (const name of LINEAR_NAMES) {
      linears[name] = await readTensor(
        checkpoint,
        linearParamName(l, name),
        linearShapeOf(cfg, name),
        signal,
      );
    }
    const bias = async (name: string, n: number): Promise<Float32Array> =>
      readTensor(checkpoint, `${p}.self_attn.${name}.bias`, [n], signal);
    layers.push({
      inputNorm: await readTensor(checkpoint, `${p}.input_layernorm.weight`, [H], signal),
      postNorm: await readTensor(checkpoint, `${p}.post_attention_layernorm.weight`, [H], signal),
      linears,
      qBias: cfg.attentionBias ? await bias("q_proj", qDim) : undefined,
      kBias: cfg.attentionBias ? await bias("k_proj", kvDim) : undefined,
      vBias: cfg.attentionBias ? await bias("v_proj", kvDim) : undefined,
      oBias: cfg.oProjBias ? await bias("o_proj", H) : undefined,
    });
  }
  const finalNorm = await readTensor(checkpoint, "model.norm.weight", [H], signal);
  const lmHead = cfg.tieWordEmbeddings
    ? embedding
    : await readTensor(checkpoint, "lm_head.weight", [cfg.vocabSize, H], signal);
  return new Llama(cfg, options.backend ?? createCpuBackend(), embedding, finalNorm, lmHead, layers);
}
