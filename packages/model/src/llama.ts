// The model object: a loaded Llama-family decoder running the shared block forward (block.ts) for
// windows and for KV-cached incremental decoding.
import type { ComputeBackend } from "@mama-prune/core";
import { createYielder, PruneError } from "@mama-prune/core";
import type { Checkpoint } from "@mama-prune/tensor-io";
import { causalAttention } from "./attention.ts";
import {
  type AttentionFn,
  type AttentionMode,
  checkAttentionMode,
  windowAttention,
} from "./attention-backend.ts";
import { type BlockHooks, decoderBlock, type LinearFn } from "./block.ts";
import { type LlamaConfig, parseLlamaConfig } from "./config.ts";
import { createCpuBackend } from "./cpu-backend.ts";
import { embedRows, rmsNorm } from "./layers.ts";
import { LINEAR_NAMES, type LinearName, linearParamName, linearShapeOf } from "./linears.ts";
import type { ForwardOptions, LlamaModel, LlamaSequence, LoadLlamaOptions } from "./model-types.ts";
import { buildRope, type RopeTable } from "./rotary.ts";
import { type LayerWeights, readLlamaWeights } from "./weights.ts";

export type { BlockHooks } from "./block.ts";
export { LINEAR_NAMES, type LinearName } from "./linears.ts";
export type { ForwardOptions, LlamaModel, LlamaSequence, LoadLlamaOptions } from "./model-types.ts";

/** `Symbol.asyncDispose`, or the key TypeScript's `await using` falls back to where it is missing. */
const ASYNC_DISPOSE: symbol =
  (Symbol as { asyncDispose?: symbol }).asyncDispose ?? Symbol.for("Symbol.asyncDispose");

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
  readonly attention: AttentionMode;
  private readonly embedding: Float32Array; // (vocab, hidden)
  private readonly finalNorm: Float32Array; // (hidden,)
  private readonly lmHead: Float32Array; // (vocab, hidden), === embedding when tied
  private readonly layers: LayerWeights[];
  private rope: RopeTable;
  private readonly ownedBackend: boolean;
  private disposed = false;
  declare readonly [Symbol.asyncDispose]: () => Promise<void>;

  constructor(
    config: LlamaConfig,
    backend: ComputeBackend,
    embedding: Float32Array,
    finalNorm: Float32Array,
    lmHead: Float32Array,
    layers: LayerWeights[],
    ownedBackend: boolean,
    attention: AttentionMode,
  ) {
    this.config = config;
    this.backend = backend;
    this.attention = attention;
    this.embedding = embedding;
    this.finalNorm = finalNorm;
    this.lmHead = lmHead;
    this.layers = layers;
    this.rope = buildRope(0, config);
    this.ownedBackend = ownedBackend;
    Object.defineProperty(this, ASYNC_DISPOSE, { value: () => this.dispose() });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.layers.length = 0;
    if (this.ownedBackend) await this.backend.dispose?.();
  }

  private checkAlive(where: string): void {
    if (this.disposed) throw new TypeError(`${where}: the model was disposed`);
  }

  private ropeFor(positions: number): RopeTable {
    if (this.rope.positions < positions) {
      const n = Math.min(this.config.maxPositionEmbeddings, Math.max(positions, 2 * this.rope.positions));
      this.rope = buildRope(n, this.config);
    }
    return this.rope;
  }

  private checkLayer(where: string, layer: number): LayerWeights {
    this.checkAlive(where);
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
    this.checkAlive("LlamaModel.embed");
    checkTokens("LlamaModel.embed", tokens, this.config.vocabSize);
    const h = this.config.hiddenSize;
    return embedRows(this.embedding, tokens, h, new Float32Array(tokens.length * h)); // (tokens, hidden)
  }

  /** Every matmul of the model, through the backend (float32 arrays only). */
  private readonly linear: LinearFn = (x, w, rows, inDim, outDim, bias) =>
    this.backend.matmulTransB(
      x as Float32Array,
      w as Float32Array,
      rows,
      inDim,
      outDim,
      bias ? { bias: bias as Float32Array } : undefined,
    );

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
    attention: AttentionFn,
    hooks: BlockHooks | undefined,
  ): Promise<Float32Array> {
    const backend = this.backend;
    const { out } = await decoderBlock(this.config, L, hidden, rows, {
      linear: this.linear,
      rope: this.ropeFor(maxPos),
      position: pos,
      attention,
      hooks,
      // The backend's SwiGLU when it has one (bitwise the JS loop's result, on its threads).
      swiglu: backend.swiglu === undefined ? undefined : (g, u, o) => backend.swiglu!(g, u, o),
    });
    return out as Float32Array;
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
    return this.block(
      L,
      hidden,
      rows,
      seqLen,
      (r) => r % seqLen,
      windowAttention(this.attention, this.backend, batch, seqLen, cfg),
      hooks,
    );
  }

  async head(hidden: Float32Array, batch: number, seqLen: number): Promise<Float32Array> {
    const where = "LlamaModel.head";
    this.checkAlive(where);
    checkCount(where, "batch", batch);
    checkCount(where, "seqLen", seqLen);
    const rows = batch * seqLen;
    this.checkHidden(where, hidden, rows);
    return this.headRows(hidden, rows);
  }

  private headRows(hidden: Float32Array, rows: number): Promise<Float32Array> {
    const cfg = this.config;
    const xn = rmsNorm(
      hidden,
      this.finalNorm,
      rows,
      cfg.hiddenSize,
      cfg.rmsNormEps,
      new Float32Array(rows * cfg.hiddenSize),
    ); // (rows, H)
    return this.backend.matmulTransB(xn, this.lmHead, rows, cfg.hiddenSize, cfg.vocabSize); // (rows, vocab)
  }

  async forward(
    tokens: Int32Array,
    batch: number,
    seqLen: number,
    options: ForwardOptions = {},
  ): Promise<Float32Array> {
    const where = "LlamaModel.forward";
    this.checkWindows(where, batch, seqLen);
    if (tokens.length !== batch * seqLen) {
      throw new RangeError(
        `${where}: tokens has ${tokens.length} elements, expected batch·seqLen = ${batch * seqLen}`,
      );
    }
    // The caller's loop (perplexity's windows) yields first; here only a long window yields.
    const tick = createYielder(options.signal, { yieldOnFirstCall: false });
    let h = this.embed(tokens); // (batch·seqLen, H)
    for (let l = 0; l < this.config.numLayers; l++) {
      const at = `${where} (block ${l})`;
      await tick(at);
      // The hooks only observe: they give the event loop a turn inside a long block.
      const hooks: BlockHooks | undefined =
        options.signal === undefined ? undefined : { onLinearInput: (name) => tick(`${at} ${name}`) };
      h = await this.runBlock(l, h, batch, seqLen, hooks);
    }
    await tick(`${where} (head)`);
    return this.headRows(h, batch * seqLen);
  }

  async nll(window: Int32Array, options: ForwardOptions = {}): Promise<Float64Array> {
    const n = window.length;
    if (n < 2) throw new RangeError(`LlamaModel.nll: window must hold at least 2 tokens, got ${n}`);
    const V = this.config.vocabSize;
    const logits = await this.forward(window, 1, n, options); // (n, V)
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
              causalAttention(q, kc, vc, out, n, past, cfg);
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
  const attention = options.attention ?? "backend";
  checkAttentionMode("loadLlama", attention);
  let cfg: LlamaConfig;
  let w: Awaited<ReturnType<typeof readLlamaWeights>>;
  try {
    cfg = parseLlamaConfig(checkpoint.config, `${checkpoint.source} config`);
    w = await readLlamaWeights(checkpoint, cfg, options.signal);
  } finally {
    if (options.closeCheckpoint === true) await checkpoint.close();
  }
  const backend = options.backend ?? createCpuBackend();
  return new Llama(
    cfg,
    backend,
    w.embedding,
    w.finalNorm,
    w.lmHead,
    w.layers,
    options.backend === undefined,
    attention,
  );
}
