// The training forward (records what the backward needs) and the reverse-mode backward of a
// Llama-family decoder. The forward IS @mama-prune/model's: its decoderBlock, embedding lookup,
// RMSNorm and attention, asked to keep the activations; only the backward lives here.
import type { ComputeBackend } from "@mama-prune/core";
import {
  type AttentionMode,
  type BlockActivations,
  buildRope,
  checkAttentionMode,
  createCpuBackend,
  type DecoderBlockWeights,
  decoderBlock,
  embedRows,
  type RopeTable,
  rmsNorm,
  windowAttention,
} from "@mama-prune/model";
import {
  type AttentionShape,
  applyRopeRows,
  attentionBackward,
  backendLinalg,
  biasGrad,
  float64Linalg,
  type Linalg,
  rmsNormBackward,
  swigluBackward,
  zerosLike,
} from "./ops.ts";
import { getParam, type LayerParamNames, type LlamaParams, layerParamNames, type Tensor } from "./params.ts";

/** Gradients by parameter name, same shapes and element type as the params. */
export type Grads = Map<string, Tensor>;

interface LayerTape extends BlockActivations {
  readonly names: LayerParamNames;
  readonly probs: Tensor; // (batch, heads, T, T) attention probabilities
}

/** What {@link trainForward} records for {@link trainBackward}. Opaque to callers. */
export interface Tape {
  readonly params: LlamaParams;
  readonly tokens: Int32Array;
  readonly batch: number;
  readonly seqLen: number;
  /** @internal */
  readonly layers: readonly unknown[];
  /** @internal */
  readonly state: unknown;
}

interface TapeState {
  readonly linalg: Linalg;
  readonly rope: RopeTable;
  readonly hF: Tensor; // (rows, H) final hidden before the norm
  readonly rF: Float64Array; // (rows,)
  readonly xnF: Tensor; // (rows, H)
}

/** Options of {@link trainForward}. */
export interface TrainForwardOptions {
  /** Backend of the float32 matmuls (default `createCpuBackend()` of @mama-prune/model). Ignored for float64 params. */
  readonly backend?: ComputeBackend;
  /**
   * Attention, as `loadLlama`'s option of the same name (default `"backend"`: QKᵀ and P·V as backend
   * matmuls; `"js"`: the plain-JS loops). Float64 params always take the JS loops.
   */
  readonly attention?: AttentionMode;
}

/** Result of {@link trainForward}. */
export interface TrainForwardResult {
  /** Logits [batch·seqLen, vocab], same element type as the params. */
  readonly logits: Tensor;
  /** Activations for {@link trainBackward}. */
  readonly tape: Tape;
}

function checkTokens(
  where: string,
  params: LlamaParams,
  tokens: Int32Array,
  batch: number,
  seqLen: number,
): void {
  if (!(tokens instanceof Int32Array)) throw new TypeError(`${where}: tokens must be an Int32Array`);
  for (const [label, v] of [
    ["batch", batch],
    ["seqLen", seqLen],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0)
      throw new RangeError(`${where}: ${label} must be a positive integer, got ${v}`);
  }
  if (tokens.length !== batch * seqLen) {
    throw new RangeError(
      `${where}: tokens has ${tokens.length} elements, expected batch·seqLen = ${batch * seqLen}`,
    );
  }
  if (seqLen > params.config.maxPositionEmbeddings) {
    throw new RangeError(
      `${where}: seqLen ${seqLen} exceeds the model's max_position_embeddings ${params.config.maxPositionEmbeddings}`,
    );
  }
  const V = params.config.vocabSize;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t < 0 || t >= V)
      throw new RangeError(`${where}: token id ${t} at index ${i} is outside the vocabulary [0, ${V})`);
  }
}

/**
 * The training forward pass: `@mama-prune/model`'s forward itself (its `embedRows`, `decoderBlock`
 * with `windowAttention`, final `rmsNorm` and lm head) on `batch` windows of `seqLen`
 * tokens, asked to keep the activations the backward needs. With float32 params and the same
 * backend the logits are bit-identical to `LlamaModel.forward`'s. Float32 params run their matmuls
 * through the ComputeBackend; float64 params (from `cloneParams(p, "f64")`) run the whole pass in
 * float64 (no float32 rounding) — the reference for gradient checks.
 *
 * Memory: per layer ~ rows·(6·H + 3·I + 2·qDim + 2·kvDim) values plus batch·heads·seqLen² attention
 * probabilities.
 *
 * @throws RangeError for a token outside the vocabulary, mismatched lengths or seqLen > context.
 * @example
 * const { logits, tape } = await trainForward(params, tokens, 2, 64);
 */
export async function trainForward(
  params: LlamaParams,
  tokens: Int32Array,
  batch: number,
  seqLen: number,
  options: TrainForwardOptions = {},
): Promise<TrainForwardResult> {
  checkTokens("trainForward", params, tokens, batch, seqLen);
  const cfg = params.config;
  const attentionMode = options.attention ?? "backend";
  checkAttentionMode("trainForward", attentionMode);
  const emb = getParam(params, "model.embed_tokens.weight");
  const backend = options.backend ?? createCpuBackend();
  const linalg = emb instanceof Float64Array ? float64Linalg() : backendLinalg(backend);
  const H = cfg.hiddenSize;
  const rows = batch * seqLen;
  const rope = buildRope(seqLen, cfg);

  let x = embedRows(emb, tokens, H, zerosLike(emb, rows * H)); // (rows, H)
  const layers: LayerTape[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const names = layerParamNames(cfg, l);
    const probs = zerosLike(emb, batch * cfg.numHeads * seqLen * seqLen); // (batch, heads, T, T)
    const { out, activations } = await decoderBlock(cfg, blockWeights(params, names), x, rows, {
      linear: linalg.linear,
      rope,
      position: (r) => r % seqLen,
      attention: windowAttention(attentionMode, backend, batch, seqLen, cfg, probs),
      saveActivations: true,
    });
    layers.push({ ...(activations as BlockActivations), names, probs });
    x = out;
  }
  const rF = new Float64Array(rows); // (rows,)
  const xnF = rmsNorm(
    x,
    getParam(params, "model.norm.weight"),
    rows,
    H,
    cfg.rmsNormEps,
    zerosLike(x, rows * H),
    rF,
  );
  const head = getParam(params, cfg.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight");
  const logits = await linalg.linear(xnF, head, rows, H, cfg.vocabSize); // (rows, vocab)
  const state: TapeState = { linalg, rope, hF: x, rF, xnF };
  return { logits, tape: { params, tokens, batch, seqLen, layers, state } };
}

function blockWeights(params: LlamaParams, n: LayerParamNames): DecoderBlockWeights {
  const opt = (name: string | undefined): Tensor | undefined => (name ? getParam(params, name) : undefined);
  return {
    inputNorm: getParam(params, n.inputNorm),
    postNorm: getParam(params, n.postNorm),
    linears: {
      q_proj: getParam(params, n.q),
      k_proj: getParam(params, n.k),
      v_proj: getParam(params, n.v),
      o_proj: getParam(params, n.o),
      gate_proj: getParam(params, n.gate),
      up_proj: getParam(params, n.up),
      down_proj: getParam(params, n.down),
    },
    qBias: opt(n.qBias),
    kBias: opt(n.kBias),
    vBias: opt(n.vBias),
    oBias: opt(n.oBias),
  };
}

/**
 * Zeroed gradients for every parameter (same element type as the params).
 *
 * @example
 * const grads = zeroGrads(params);
 */
export function zeroGrads(params: LlamaParams): Grads {
  const g: Grads = new Map();
  for (const [name, t] of params.tensors) g.set(name, zerosLike(t, t.length));
  return g;
}

function gradOf(grads: Grads, name: string): Tensor {
  const g = grads.get(name);
  if (g === undefined) throw new RangeError(`trainBackward: grads has no entry for "${name}"`);
  return g;
}

/**
 * Reverse-mode backward of {@link trainForward}: given dL/dlogits [batch·seqLen, vocab], ADDS
 * dL/dθ for every parameter into `grads` (allocated when absent), so several forwards can
 * accumulate (gradient accumulation, GRPO groups). Tied embeddings receive both the lm-head and the
 * embedding gradient.
 *
 * Backward matmuls: dx = dy·w and dw = dyᵀ·x through the backend's `matmulTransB` on transposed
 * copies (see `backendLinalg`).
 *
 * @throws RangeError when dLogits has the wrong length or grads lacks a parameter.
 * @example
 * const { logits, tape } = await trainForward(params, tokens, 1, 32);
 * const { dLogits } = crossEntropyLoss(logits, targets, 32, vocab);
 * const grads = await trainBackward(tape, dLogits);
 */
export async function trainBackward(tape: Tape, dLogits: Tensor, grads?: Grads): Promise<Grads> {
  const { params, tokens, batch, seqLen } = tape;
  const cfg = params.config;
  const st = tape.state as TapeState;
  const la = st.linalg;
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const qDim = cfg.numHeads * hd;
  const kvDim = cfg.numKvHeads * hd;
  const I = cfg.intermediateSize;
  const V = cfg.vocabSize;
  const rows = batch * seqLen;
  if (dLogits.length !== rows * V) {
    throw new RangeError(
      `trainBackward: dLogits has ${dLogits.length} elements, expected rows·vocab = ${rows * V}`,
    );
  }
  const G = grads ?? zeroGrads(params);
  const shape: AttentionShape = {
    batch,
    seqLen,
    numHeads: cfg.numHeads,
    numKvHeads: cfg.numKvHeads,
    headDim: hd,
    slidingWindow: cfg.slidingWindow,
  };

  // Head: logits = xnF · headᵀ.
  const headName = cfg.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  const head = getParam(params, headName);
  await la.linearGradWeight(dLogits, st.xnF, rows, H, V, gradOf(G, headName));
  const dxnF = await la.linearGradInput(dLogits, head, rows, H, V); // (rows, H)
  let dh = rmsNormBackward(
    dxnF,
    st.hF,
    getParam(params, "model.norm.weight"),
    st.rF,
    rows,
    H,
    gradOf(G, "model.norm.weight"),
  ); // (rows, H)

  for (let l = cfg.numLayers - 1; l >= 0; l--) {
    const t = tape.layers[l] as LayerTape;
    const n = t.names;
    // MLP: h2 = h1 + down(silu(gate(xn2)) · up(xn2)).
    await la.linearGradWeight(dh, t.a, rows, I, H, gradOf(G, n.down));
    const da = await la.linearGradInput(dh, getParam(params, n.down), rows, I, H); // (rows, I)
    const { dg, du } = swigluBackward(da, t.g, t.u);
    await la.linearGradWeight(dg, t.xn2, rows, H, I, gradOf(G, n.gate));
    await la.linearGradWeight(du, t.xn2, rows, H, I, gradOf(G, n.up));
    const dxn2 = await la.linearGradInput(dg, getParam(params, n.gate), rows, H, I); // (rows, H)
    const dxn2u = await la.linearGradInput(du, getParam(params, n.up), rows, H, I); // (rows, H)
    for (let i = 0; i < dxn2.length; i++) dxn2[i] = dxn2[i]! + dxn2u[i]!;
    const dh1 = rmsNormBackward(
      dxn2,
      t.h1,
      getParam(params, n.postNorm),
      t.scales2,
      rows,
      H,
      gradOf(G, n.postNorm),
    );
    for (let i = 0; i < dh1.length; i++) dh1[i] = dh1[i]! + dh[i]!;
    // Attention: h1 = x + o(attn(rope(q(xn1)), rope(k(xn1)), v(xn1))).
    await la.linearGradWeight(dh1, t.att, rows, qDim, H, gradOf(G, n.o));
    if (n.oBias) biasGrad(dh1, rows, H, gradOf(G, n.oBias));
    const dAtt = await la.linearGradInput(dh1, getParam(params, n.o), rows, qDim, H); // (rows, qDim)
    const { dq, dk, dv } = attentionBackward(dAtt, t.q, t.k, t.v, t.probs, shape);
    applyRopeRows(dq, rows, cfg.numHeads, hd, seqLen, st.rope, true);
    applyRopeRows(dk, rows, cfg.numKvHeads, hd, seqLen, st.rope, true);
    await la.linearGradWeight(dq, t.xn1, rows, H, qDim, gradOf(G, n.q));
    await la.linearGradWeight(dk, t.xn1, rows, H, kvDim, gradOf(G, n.k));
    await la.linearGradWeight(dv, t.xn1, rows, H, kvDim, gradOf(G, n.v));
    if (n.qBias) biasGrad(dq, rows, qDim, gradOf(G, n.qBias));
    if (n.kBias) biasGrad(dk, rows, kvDim, gradOf(G, n.kBias));
    if (n.vBias) biasGrad(dv, rows, kvDim, gradOf(G, n.vBias));
    const dxn1 = await la.linearGradInput(dq, getParam(params, n.q), rows, H, qDim); // (rows, H)
    const dxk = await la.linearGradInput(dk, getParam(params, n.k), rows, H, kvDim); // (rows, H)
    const dxv = await la.linearGradInput(dv, getParam(params, n.v), rows, H, kvDim); // (rows, H)
    for (let i = 0; i < dxn1.length; i++) dxn1[i] = dxn1[i]! + dxk[i]! + dxv[i]!;
    const dx = rmsNormBackward(
      dxn1,
      t.x,
      getParam(params, n.inputNorm),
      t.scales1,
      rows,
      H,
      gradOf(G, n.inputNorm),
    );
    for (let i = 0; i < dx.length; i++) dx[i] = dx[i]! + dh1[i]!;
    dh = dx;
  }

  // Embedding: row tokens[i] receives dh[i].
  const dE = gradOf(G, "model.embed_tokens.weight");
  for (let i = 0; i < rows; i++) {
    const o = tokens[i]! * H;
    for (let j = 0; j < H; j++) dE[o + j] = dE[o + j]! + dh[i * H + j]!;
  }
  return G;
}
