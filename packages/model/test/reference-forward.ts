// An INDEPENDENT, deliberately naive reference forward pass for llama2.c checkpoints, used only by tests.
//
// It shares no code with @mama-prune/model or @mama-prune/tensor-io: it parses the llama2.c `.bin`
// itself and transcribes llama2.c run.c's `forward()` token by token with scalar loops and a KV
// cache. Weights are float32 as stored; every activation and accumulation is float64, so this is a
// slightly *more* exact version of run.c (whose float32 sums differ from it by ~1e-6 relative).
// Speed is irrelevant here: correctness by inspection is the whole point.

// ---- Checkpoint parsing ----

/** The 7-int32 llama2.c header, decoded. */
export interface ReferenceConfig {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly vocabSize: number; // absolute value of the header field
  readonly seqLen: number;
  readonly sharedClassifier: boolean; // header vocab_size > 0
}

/** All weights as float32 views, in llama2.c order and shapes (row-major, [out, in]). */
export interface ReferenceWeights {
  readonly tokenEmbedding: Float32Array; // (vocab, dim)
  readonly rmsAtt: Float32Array; // (L, dim)
  readonly wq: Float32Array; // (L, dim, dim)
  readonly wk: Float32Array; // (L, kvDim, dim)
  readonly wv: Float32Array; // (L, kvDim, dim)
  readonly wo: Float32Array; // (L, dim, dim)
  readonly rmsFfn: Float32Array; // (L, dim)
  readonly w1: Float32Array; // (L, hidden, dim)
  readonly w2: Float32Array; // (L, dim, hidden)
  readonly w3: Float32Array; // (L, hidden, dim)
  readonly rmsFinal: Float32Array; // (dim,)
  readonly wcls: Float32Array; // (vocab, dim): the embedding table when shared
}

/** A parsed llama2.c checkpoint. */
export interface ReferenceModel {
  readonly config: ReferenceConfig;
  readonly weights: ReferenceWeights;
}

/**
 * Parse a llama2.c legacy (v0) checkpoint: 7 little-endian int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len), then float32 weights in llama2.c order, the legacy
 * freq_cis_real/imag tables (seq_len × head_size/2 each, skipped: RoPE is recomputed as run.c does
 * now), then wcls only when vocab_size < 0.
 *
 * @throws Error when the header is implausible or the byte length does not match the header.
 * @example
 * const m = parseLlama2cReference(bytes); m.config.dim; // 64
 */
export function parseLlama2cReference(bytes: Uint8Array): ReferenceModel {
  if (bytes.byteLength < 28) throw new Error(`reference: file too short (${bytes.byteLength} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = (i: number): number => view.getInt32(4 * i, true);
  const dim = h(0);
  const hiddenDim = h(1);
  const nLayers = h(2);
  const nHeads = h(3);
  const nKvHeads = h(4);
  const vocabRaw = h(5);
  const seqLen = h(6);
  const vocabSize = Math.abs(vocabRaw);
  for (const [name, v] of [
    ["dim", dim],
    ["hidden_dim", hiddenDim],
    ["n_layers", nLayers],
    ["n_heads", nHeads],
    ["n_kv_heads", nKvHeads],
    ["vocab_size", vocabSize],
    ["seq_len", seqLen],
  ] as const) {
    if (!(v > 0 && v < 1 << 20)) throw new Error(`reference: header ${name} = ${v} is implausible`);
  }
  if (dim % nHeads !== 0 || nHeads % nKvHeads !== 0 || (dim / nHeads) % 2 !== 0) {
    throw new Error(`reference: dim ${dim}, n_heads ${nHeads}, n_kv_heads ${nKvHeads} are inconsistent`);
  }
  const headSize = dim / nHeads;
  const kvDim = (dim * nKvHeads) / nHeads;
  const shared = vocabRaw > 0;
  const sizes = {
    tokenEmbedding: vocabSize * dim,
    rmsAtt: nLayers * dim,
    wq: nLayers * dim * dim,
    wk: nLayers * kvDim * dim,
    wv: nLayers * kvDim * dim,
    wo: nLayers * dim * dim,
    rmsFfn: nLayers * dim,
    w1: nLayers * hiddenDim * dim,
    w2: nLayers * dim * hiddenDim,
    w3: nLayers * hiddenDim * dim,
    rmsFinal: dim,
  };
  const freqCisFloats = 2 * seqLen * (headSize / 2);
  let totalFloats = freqCisFloats + (shared ? 0 : vocabSize * dim);
  for (const n of Object.values(sizes)) totalFloats += n;
  const expectedBytes = 28 + 4 * totalFloats;
  if (bytes.byteLength !== expectedBytes) {
    throw new Error(`reference: expected ${expectedBytes} bytes for this header, got ${bytes.byteLength}`);
  }
  // Copy the payload so the float32 view is aligned regardless of the caller's buffer offset.
  const floats = new Float32Array(totalFloats); // (totalFloats,)
  new Uint8Array(floats.buffer).set(bytes.subarray(28));
  let offset = 0;
  const take = (n: number): Float32Array => {
    const out = floats.subarray(offset, offset + n);
    offset += n;
    return out;
  };
  const tokenEmbedding = take(sizes.tokenEmbedding);
  const rmsAtt = take(sizes.rmsAtt);
  const wq = take(sizes.wq);
  const wk = take(sizes.wk);
  const wv = take(sizes.wv);
  const wo = take(sizes.wo);
  const rmsFfn = take(sizes.rmsFfn);
  const w1 = take(sizes.w1);
  const w2 = take(sizes.w2);
  const w3 = take(sizes.w3);
  const rmsFinal = take(sizes.rmsFinal);
  take(freqCisFloats); // legacy freq_cis_real + freq_cis_imag, unused
  const wcls = shared ? tokenEmbedding : take(vocabSize * dim);
  return {
    config: { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier: shared },
    weights: { tokenEmbedding, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, wcls },
  };
}

// ---- Neural net blocks (run.c's, in float64) ----

function rmsnorm(out: Float64Array, x: Float64Array, weight: Float32Array, wOffset: number): void {
  const n = x.length;
  let ss = 0;
  for (let j = 0; j < n; j++) ss += x[j]! * x[j]!;
  ss = 1 / Math.sqrt(ss / n + 1e-5);
  for (let j = 0; j < n; j++) out[j] = weight[wOffset + j]! * (ss * x[j]!);
}

function softmaxInPlace(x: Float64Array, size: number): void {
  let max = x[0]!;
  for (let i = 1; i < size; i++) if (x[i]! > max) max = x[i]!;
  let sum = 0;
  for (let i = 0; i < size; i++) {
    x[i] = Math.exp(x[i]! - max);
    sum += x[i]!;
  }
  for (let i = 0; i < size; i++) x[i] = x[i]! / sum;
}

/** out (d,) = W (d, n) @ x (n,), W starting at wOffset. */
function matvec(
  out: Float64Array,
  x: Float64Array,
  w: Float32Array,
  wOffset: number,
  n: number,
  d: number,
): void {
  for (let i = 0; i < d; i++) {
    let val = 0;
    const row = wOffset + i * n;
    for (let j = 0; j < n; j++) val += w[row + j]! * x[j]!;
    out[i] = val;
  }
}

// ---- Forward ----

/** Per-sequence state: the KV cache of run.c, (layer, seqLen, kvDim) each. */
export interface ReferenceState {
  readonly keyCache: Float64Array; // (L, seqLen, kvDim)
  readonly valueCache: Float64Array; // (L, seqLen, kvDim)
}

/**
 * A fresh KV cache for one sequence.
 *
 * @example
 * const state = createReferenceState(model);
 */
export function createReferenceState(model: ReferenceModel): ReferenceState {
  const { nLayers, seqLen, dim, nHeads, nKvHeads } = model.config;
  const kvDim = (dim * nKvHeads) / nHeads;
  return {
    keyCache: new Float64Array(nLayers * seqLen * kvDim), // (L, seqLen, kvDim)
    valueCache: new Float64Array(nLayers * seqLen * kvDim), // (L, seqLen, kvDim)
  };
}

/**
 * run.c `forward(transformer, token, pos)`: the logits for position `pos` given the tokens already
 * fed at positions 0..pos-1 (held in `state`).
 *
 * @throws RangeError when the token or position is out of range.
 * @example
 * const logits = referenceForwardToken(model, state, 1, 0); // (vocab,)
 */
export function referenceForwardToken(
  model: ReferenceModel,
  state: ReferenceState,
  token: number,
  pos: number,
): Float64Array {
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen } = model.config;
  const w = model.weights;
  if (!Number.isInteger(token) || token < 0 || token >= vocabSize) {
    throw new RangeError(`reference: token ${token} out of range [0, ${vocabSize})`);
  }
  if (!Number.isInteger(pos) || pos < 0 || pos >= seqLen) {
    throw new RangeError(`reference: pos ${pos} out of range [0, ${seqLen})`);
  }
  const headSize = dim / nHeads;
  const kvDim = (dim * nKvHeads) / nHeads;
  const kvMul = nHeads / nKvHeads; // query heads per kv head

  const x = new Float64Array(dim); // (dim,) residual stream
  const xb = new Float64Array(dim); // (dim,)
  const xb2 = new Float64Array(dim); // (dim,)
  const hb = new Float64Array(hiddenDim); // (hidden,)
  const hb2 = new Float64Array(hiddenDim); // (hidden,)
  const q = new Float64Array(dim); // (dim,)
  const k = new Float64Array(kvDim); // (kvDim,)
  const v = new Float64Array(kvDim); // (kvDim,)
  const att = new Float64Array(pos + 1); // (pos + 1,) scores of one head

  for (let i = 0; i < dim; i++) x[i] = w.tokenEmbedding[token * dim + i]!;

  for (let l = 0; l < nLayers; l++) {
    // attention rmsnorm, then q, k, v for this position
    rmsnorm(xb, x, w.rmsAtt, l * dim);
    matvec(q, xb, w.wq, l * dim * dim, dim, dim);
    matvec(k, xb, w.wk, l * kvDim * dim, dim, kvDim);
    matvec(v, xb, w.wv, l * kvDim * dim, dim, kvDim);

    // RoPE, llama2.c style: rotate interleaved pairs (i, i+1) within each head, with
    // freq = 1 / 10000^(headDim / headSize), headDim = i % headSize (an even index: 0, 2, 4, ...).
    for (let i = 0; i < dim; i += 2) {
      const headDim = i % headSize;
      const freq = 1 / 10000 ** (headDim / headSize);
      const angle = pos * freq;
      const fcr = Math.cos(angle);
      const fci = Math.sin(angle);
      const rotations = i < kvDim ? 2 : 1; // rotate q always, k only within kvDim
      for (let r = 0; r < rotations; r++) {
        const vec = r === 0 ? q : k;
        const v0 = vec[i]!;
        const v1 = vec[i + 1]!;
        vec[i] = v0 * fcr - v1 * fci;
        vec[i + 1] = v0 * fci + v1 * fcr;
      }
    }

    // save k, v into the cache at (l, pos)
    const loff = l * seqLen * kvDim;
    state.keyCache.set(k, loff + pos * kvDim);
    state.valueCache.set(v, loff + pos * kvDim);

    // multi-head attention, query head h reads kv head floor(h / kvMul)
    for (let hd = 0; hd < nHeads; hd++) {
      const qOff = hd * headSize;
      const kvOff = Math.floor(hd / kvMul) * headSize;
      for (let t = 0; t <= pos; t++) {
        const kOff = loff + t * kvDim + kvOff;
        let score = 0;
        for (let i = 0; i < headSize; i++) score += q[qOff + i]! * state.keyCache[kOff + i]!;
        att[t] = score / Math.sqrt(headSize);
      }
      softmaxInPlace(att, pos + 1);
      for (let i = 0; i < headSize; i++) xb[qOff + i] = 0;
      for (let t = 0; t <= pos; t++) {
        const vOff = loff + t * kvDim + kvOff;
        const a = att[t]!;
        for (let i = 0; i < headSize; i++) xb[qOff + i] = xb[qOff + i]! + a * state.valueCache[vOff + i]!;
      }
    }

    // output projection and residual
    matvec(xb2, xb, w.wo, l * dim * dim, dim, dim);
    for (let i = 0; i < dim; i++) x[i] = x[i]! + xb2[i]!;

    // ffn: w2(silu(w1 x) * w3 x), and residual
    rmsnorm(xb, x, w.rmsFfn, l * dim);
    matvec(hb, xb, w.w1, l * dim * hiddenDim, dim, hiddenDim);
    matvec(hb2, xb, w.w3, l * dim * hiddenDim, dim, hiddenDim);
    for (let i = 0; i < hiddenDim; i++) {
      let val = hb[i]!;
      val *= 1 / (1 + Math.exp(-val));
      hb[i] = val * hb2[i]!;
    }
    matvec(xb, hb, w.w2, l * dim * hiddenDim, hiddenDim, dim);
    for (let i = 0; i < dim; i++) x[i] = x[i]! + xb[i]!;
  }

  // final rmsnorm and classifier
  rmsnorm(x, x, w.rmsFinal, 0);
  const logits = new Float64Array(vocabSize); // (vocab,)
  matvec(logits, x, w.wcls, 0, dim, vocabSize);
  return logits;
}

/**
 * Logits for every position of a window, fed token by token from a fresh cache.
 *
 * @throws RangeError on an empty window, one longer than seq_len, or an out-of-range token.
 * @example
 * const rows = referenceLogits(model, [1, 403, 407]); rows.length; // 3, each (vocab,)
 */
export function referenceLogits(model: ReferenceModel, tokens: ArrayLike<number>): Float64Array[] {
  if (tokens.length === 0 || tokens.length > model.config.seqLen) {
    throw new RangeError(`reference: window length ${tokens.length} not in [1, ${model.config.seqLen}]`);
  }
  const state = createReferenceState(model);
  const rows: Float64Array[] = [];
  for (let pos = 0; pos < tokens.length; pos++)
    rows.push(referenceForwardToken(model, state, tokens[pos]!, pos));
  return rows;
}

/**
 * Per-token negative log-likelihood (natural log) of tokens[1..] given their prefix, length
 * tokens.length − 1, from a float64 log-sum-exp of the reference logits.
 *
 * @throws RangeError as referenceLogits, or on a window shorter than 2.
 * @example
 * referenceNll(model, [1, 403, 407]).length; // 2
 */
export function referenceNll(model: ReferenceModel, tokens: ArrayLike<number>): Float64Array {
  if (tokens.length < 2) throw new RangeError(`reference: need at least 2 tokens, got ${tokens.length}`);
  const rows = referenceLogits(model, tokens);
  const nll = new Float64Array(tokens.length - 1); // (T - 1,)
  for (let t = 0; t + 1 < tokens.length; t++) {
    const row = rows[t]!;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
    let sum = 0;
    for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
    nll[t] = max + Math.log(sum) - row[tokens[t + 1]!]!;
  }
  return nll;
}

/**
 * Greedy (argmax) continuation as run.c generates it: feed the prompt, then repeatedly take the
 * argmax (first index on ties) of the last logits, for `steps` new tokens.
 *
 * @throws RangeError when prompt + steps exceeds seq_len.
 * @example
 * referenceGreedy(model, [1, 403, 407, 261, 378], 20); // 20 new token ids
 */
export function referenceGreedy(model: ReferenceModel, prompt: readonly number[], steps: number): number[] {
  if (prompt.length === 0 || prompt.length + steps > model.config.seqLen) {
    throw new RangeError(`reference: prompt ${prompt.length} + steps ${steps} exceeds seq_len`);
  }
  const state = createReferenceState(model);
  const out: number[] = [];
  let logits: Float64Array = new Float64Array(0); // (vocab,)
  let pos = 0;
  for (const t of prompt) logits = referenceForwardToken(model, state, t, pos++);
  for (let s = 0; s < steps; s++) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    out.push(best);
    if (s + 1 < steps) logits = referenceForwardToken(model, state, best, pos++);
  }
  return out;
}

// ---- Minimal tok512.bin vocabulary (for decoding test output only) ----

/** A llama2.c tokenizer.bin: pieces and merge scores. */
export interface ReferenceVocab {
  readonly pieces: readonly string[];
  readonly scores: Float32Array; // (vocab,)
}

/**
 * Read a llama2.c tokenizer.bin (int32 max_token_length, then per token: float32 score, int32 length,
 * bytes) into its pieces and scores.
 *
 * @throws Error on a truncated file.
 * @example
 * const vocab = readReferenceVocab(bytes, 512); vocab.pieces[403]; // " Once"
 */
export function readReferenceVocab(bytes: Uint8Array, vocabSize: number): ReferenceVocab {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder();
  const pieces: string[] = [];
  const scores = new Float32Array(vocabSize); // (vocab,)
  let p = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (p + 8 > bytes.byteLength) throw new Error(`reference vocab: truncated at token ${i}`);
    scores[i] = view.getFloat32(p, true);
    const len = view.getInt32(p + 4, true);
    p += 8;
    if (len < 0 || p + len > bytes.byteLength) throw new Error(`reference vocab: bad length at token ${i}`);
    pieces.push(dec.decode(bytes.subarray(p, p + len)));
    p += len;
  }
  return { pieces, scores };
}

/**
 * run.c `encode(text, bos=1, eos=0)`: BOS, a dummy-prefix space, one token per code point (byte
 * fallback: id = byte + 3 for code points not in the vocabulary), then repeatedly merge the adjacent
 * pair whose concatenation is in the vocabulary with the highest score (first such pair on ties).
 *
 * @example
 * encodeReference(vocab, "Once upon a time"); // [1, 403, 407, 261, 378]
 */
export function encodeReference(vocab: ReferenceVocab, text: string): number[] {
  const lookup = new Map<string, number>();
  vocab.pieces.forEach((piece, id) => {
    if (!lookup.has(piece)) lookup.set(piece, id);
  });
  const tokens: number[] = [];
  if (text.length > 0) {
    for (const ch of ` ${text}`) {
      const id = lookup.get(ch);
      if (id !== undefined) tokens.push(id);
      else for (const b of new TextEncoder().encode(ch)) tokens.push(b + 3);
    }
  }
  for (;;) {
    let bestScore = Number.NEGATIVE_INFINITY;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = lookup.get(vocab.pieces[tokens[i]!]! + vocab.pieces[tokens[i + 1]!]!);
      if (id !== undefined && vocab.scores[id]! > bestScore) {
        bestScore = vocab.scores[id]!;
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return [1, ...tokens];
}

/**
 * Decode token ids the way run.c prints them: after BOS (1) a leading space is dropped, and
 * `<0xXX>` pieces become that raw byte (bytes are collected and UTF-8 decoded at the end).
 *
 * @example
 * decodeReference(vocab, [1, 403, 407], 1); // "Once upon"
 */
export function decodeReference(vocab: ReferenceVocab, ids: readonly number[], prev: number): string {
  const bytes: number[] = [];
  const enc = new TextEncoder();
  let last = prev;
  for (const id of ids) {
    let piece = vocab.pieces[id] ?? "";
    if (last === 1 && piece.startsWith(" ")) piece = piece.slice(1);
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
    if (m) bytes.push(Number.parseInt(m[1]!, 16));
    else bytes.push(...enc.encode(piece));
    last = id;
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
