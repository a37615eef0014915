// The public contract of a loaded model: options of `loadLlama`, the model and its decoding sessions.
import type { ComputeBackend } from "@mama-prune/core";
import type { AttentionMode } from "./attention-backend.ts";
import type { BlockHooks } from "./block.ts";
import type { LlamaConfig } from "./config.ts";
import type { LinearName } from "./linears.ts";

/** Options of {@link loadLlama}. */
export interface LoadLlamaOptions {
  /** Compute backend for every matmul (default: {@link createCpuBackend}). */
  readonly backend?: ComputeBackend;
  /** Cancels loading between tensors (rejects with ABORTED). */
  readonly signal?: AbortSignal;
  /**
   * Close the checkpoint once every weight is read (the model holds them all) — and when loading
   * fails — so that `loadLlama(await openCheckpoint(path), { closeCheckpoint: true })` leaves no
   * file handle open. Default false: the caller closes it (e.g. when it reads more tensors later).
   */
  readonly closeCheckpoint?: boolean;
  /**
   * Attention of the window forward (`forward`, `nll`, `runBlock`): `"backend"` (default) runs QKᵀ
   * and P·V as backend matmuls, `"js"` the plain-JS float64 loops (see `AttentionMode`). The KV-cache
   * path of `createSequence` (a few queries at a time) always uses the JS loops.
   */
  readonly attention?: AttentionMode;
}

/** Options of {@link LlamaModel.forward} and {@link LlamaModel.nll}. */
export interface ForwardOptions {
  /**
   * Cancels between decoder blocks (rejects with PruneError ABORTED); the event loop gets a turn
   * at least every 50 ms so that an abort from a timer or a Ctrl-C handler can land.
   */
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
  /** How the window forward computes attention (see {@link LoadLlamaOptions.attention}). */
  readonly attention: AttentionMode;
  /**
   * Logits [batch·seqLen, vocab] for `batch` independent windows of `seqLen` tokens (row-major,
   * window after window); causal attention inside each window, positions 0..seqLen−1.
   *
   * @throws RangeError when `tokens.length !== batch·seqLen`, an id is outside the vocabulary, or
   *   seqLen exceeds `maxPositionEmbeddings`; PruneError ABORTED when `options.signal` fires.
   */
  forward(tokens: Int32Array, batch: number, seqLen: number, options?: ForwardOptions): Promise<Float32Array>;
  /**
   * Per-token negative log-likelihood (natural log) of window[1..] given its prefix: length
   * `window.length − 1`, log-sum-exp in float64. Holds one window's logits at most.
   */
  nll(window: Int32Array, options?: ForwardOptions): Promise<Float64Array>;
  /** Embedding rows of the tokens: hidden states [tokens.length, hiddenSize]. */
  embed(tokens: Int32Array): Float32Array;
  /**
   * Run decoder block `layer` on hidden states [batch·seqLen, hiddenSize] and return the new hidden
   * states (a new array; the input is not modified). Hooks receive the input of each linear; with
   * `hooks.inputsOnly` the block stops after down_proj's input and returns an empty array.
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
  /**
   * Release the model: disposes the backend that {@link loadLlama} created (none when a backend was
   * passed in: its owner disposes it) and drops the decoder weights; every later call throws a
   * TypeError. Idempotent. `await using model = await loadLlama(…)` calls it at the end of the scope.
   */
  dispose(): Promise<void>;
  /** The same as {@link LlamaModel.dispose}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}
