import { createYielder, PruneError, sha256Hex, throwIfAborted } from "@mama-prune/core";

// ---- Structural contracts (satisfied by @mama-prune/model's model and tokenizers) ----

/**
 * What perplexity needs from a model: the per-token negative log-likelihood (natural log) of
 * `window[1..]` given its prefix, one value per predicted token (length `window.length − 1`).
 */
export interface PerplexityModel {
  /**
   * `options.signal` is perplexity's own signal, passed on so that a model with a long forward pass
   * can stop inside a window (a model may ignore it: perplexity also checks it between windows).
   */
  nll(window: Int32Array, options?: { signal?: AbortSignal }): Promise<Float64Array | Float32Array>;
  /** When present, `seqlen` is checked against the model's context length before any work. */
  readonly config?: { readonly maxPositionEmbeddings?: number };
}

/** What perplexity needs from a tokenizer. `bosId` is undefined for tokenizers without a BOS token. */
export interface PerplexityTokenizer {
  encode(text: string, options?: { bos?: boolean; eos?: boolean }): ArrayLike<number>;
  readonly bosId: number | undefined;
}

/**
 * Wrap a tokenizer so that each distinct (text, options) is encoded once: {@link perplexity} encodes its
 * whole text on every call, so sweeps that evaluate many pruned models on one text reuse the tokens.
 *
 * @example
 * const tok = cachingTokenizer(tokenizer); await perplexity(a, tok, text, o); await perplexity(b, tok, text, o);
 */
export function cachingTokenizer(t: PerplexityTokenizer): PerplexityTokenizer {
  const cache = new Map<string, ArrayLike<number>>();
  return {
    bosId: t.bosId,
    encode(text, options) {
      const key = `${options?.bos ?? ""}|${options?.eos ?? ""}|${text}`;
      let ids = cache.get(key);
      if (ids === undefined) {
        ids = t.encode(text, options);
        cache.set(key, ids);
      }
      return ids;
    },
  };
}

/** Options of {@link perplexity}. */
export interface PerplexityOptions {
  /** Tokens per window (including the BOS of `bosPerWindow`). Required: never derived from a config. ≥ 2. */
  readonly seqlen: number;
  /** Score only the first `maxWindows` windows (in text order). Default: all. ≥ 1. */
  readonly maxWindows?: number;
  /**
   * false (default): one BOS at the start of the stream, windows are plain slices of it.
   * true: the stream has no BOS; each window is [BOS] + the next seqlen − 1 stream tokens.
   */
  readonly bosPerWindow?: boolean;
  /** Called with (0, total) before the first window and (k, total) after the k-th. */
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * Checked before each window (the event loop gets a turn at least every 50 ms, so a Ctrl-C
   * handler or a timer can fire) and passed to `model.nll`; an aborted run throws PruneError ABORTED.
   */
  readonly signal?: AbortSignal;
  /** Checksum of the model weights, copied into the result (e.g. sha256 of the checkpoint file). */
  readonly modelChecksum?: string;
  /** Name of the evaluation text, copied into the result. Default "unnamed". */
  readonly datasetName?: string;
  /** Name of the compute backend that ran the model, copied into the result. Default "unspecified". */
  readonly backendName?: string;
  /** Milliseconds clock for `wallTimeMs`. Default `performance.now`. */
  readonly clock?: () => number;
}

/** A perplexity together with everything needed to reproduce it. */
export interface PerplexityResult {
  /** exp(meanNll). */
  readonly ppl: number;
  /** Mean negative log-likelihood (nats) over all scored tokens, accumulated in float64. */
  readonly meanNll: number;
  /** Number of predicted tokens scored: windows × (seqlen − 1). */
  readonly tokensScored: number;
  /** Windows evaluated. */
  readonly windows: number;
  /** Whole windows the stream holds (before `maxWindows`). */
  readonly windowsAvailable: number;
  readonly seqlen: number;
  readonly bosPerWindow: boolean;
  readonly dataset: {
    readonly name: string;
    /** sha256 of the UTF-8 bytes of the text, lowercase hex. */
    readonly sha256: string;
    /** Unicode code points in the text. */
    readonly chars: number;
    /** UTF-8 bytes of the text. */
    readonly bytes: number;
    /** Tokens in the stream (including the leading BOS when `bosPerWindow` is false and the tokenizer has one). */
    readonly tokens: number;
  };
  readonly model: { readonly checksum: string | null };
  readonly backend: string;
  readonly wallTimeMs: number;
  /** One human-readable line stating the number and the whole protocol. */
  readonly protocol: string;
}

// ---- Validation ----

function invalid(message: string): PruneError {
  return new PruneError("EVAL_INVALID", message);
}

function checkOptions(options: PerplexityOptions): void {
  const { seqlen, maxWindows } = options;
  if (typeof seqlen !== "number" || !Number.isInteger(seqlen) || seqlen < 2) {
    throw invalid(
      `perplexity: options.seqlen must be an integer ≥ 2 (set it explicitly; it is never taken from a model config). Expected seqlen ≥ 2, got ${String(seqlen)}.`,
    );
  }
  if (maxWindows !== undefined && (!Number.isInteger(maxWindows) || maxWindows < 1)) {
    throw invalid(
      `perplexity: options.maxWindows must be a positive integer. Expected maxWindows ≥ 1, got ${String(maxWindows)}.`,
    );
  }
}

function toInt32Stream(tokens: ArrayLike<number>): Int32Array {
  if (tokens instanceof Int32Array) return tokens;
  const out = new Int32Array(tokens.length); // (n,)
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!Number.isInteger(t) || t < 0 || t > 0x7fffffff) {
      throw invalid(
        `perplexity: tokenizer returned a non-token value. Expected an id ≥ 0, got ${t} at ${i}.`,
      );
    }
    out[i] = t;
  }
  return out;
}

// ---- Windowing ----

/** The windows cut from a token stream, per the protocol. */
export interface PerplexityWindows {
  /** The token stream that was cut (with the leading BOS when one was added). */
  readonly stream: Int32Array;
  /** Whole windows the stream holds. */
  readonly available: number;
  /** Window `k` (0-based), `seqlen` tokens. */
  window(k: number): Int32Array;
}

/**
 * Tokenize `text` as one stream and define the non-overlapping windows of the perplexity protocol.
 * Without `bosPerWindow` the stream is [BOS?] + encode(text) and window k = stream[k·seqlen,
 * (k+1)·seqlen). With it, the stream is encode(text) and window k = [BOS] +
 * stream[k·(seqlen−1), (k+1)·(seqlen−1)). The remainder after the last whole window is dropped.
 *
 * @throws PruneError EVAL_INVALID when `bosPerWindow` is set and the tokenizer has no BOS.
 * @example
 * const w = cutWindows(tokenizer, "Once upon a time", 4, false); w.available; // floor(tokens / 4)
 */
export function cutWindows(
  tokenizer: PerplexityTokenizer,
  text: string,
  seqlen: number,
  bosPerWindow: boolean,
): PerplexityWindows {
  const bos = tokenizer.bosId;
  if (bosPerWindow && (bos === undefined || !Number.isInteger(bos) || bos < 0)) {
    throw invalid(
      `perplexity: options.bosPerWindow needs a tokenizer with a BOS token. Expected tokenizer.bosId, got ${String(bos)}.`,
    );
  }
  // BOS is placed here rather than through encode's `bos` option, so the protocol does not depend
  // on how a tokenizer implements that option.
  const body = toInt32Stream(tokenizer.encode(text, { bos: false, eos: false }));
  let stream: Int32Array; // (n,)
  if (!bosPerWindow && bos !== undefined) {
    stream = new Int32Array(body.length + 1);
    stream[0] = bos;
    stream.set(body, 1);
  } else {
    stream = body;
  }
  const stride = bosPerWindow ? seqlen - 1 : seqlen;
  const available = Math.floor(stream.length / stride);
  return {
    stream,
    available,
    window(k: number): Int32Array {
      if (!Number.isInteger(k) || k < 0 || k >= available) {
        throw new RangeError(`cutWindows: window ${k} out of range [0, ${available})`);
      }
      if (!bosPerWindow) return stream.subarray(k * seqlen, (k + 1) * seqlen);
      const w = new Int32Array(seqlen); // (seqlen,)
      w[0] = bos!;
      w.set(stream.subarray(k * stride, (k + 1) * stride), 1);
      return w;
    },
  };
}

// ---- Perplexity ----

/**
 * Perplexity of `model` on `text` with the DESIGN.md §3 protocol: the text is tokenized as ONE
 * stream, cut into non-overlapping windows of exactly `seqlen` tokens (see {@link cutWindows} for
 * where BOS goes), the remainder dropped; in each window every token but the first is predicted from
 * its prefix inside that window (seqlen − 1 scored tokens per window, no context carried across
 * windows); ppl = exp(mean NLL over all scored tokens), summed in float64.
 *
 * @param model anything with `nll(window)`, e.g. a loaded @mama-prune/model.
 * @param tokenizer anything with `encode(text, { bos, eos })` and `bosId`.
 * @param text the evaluation text (see {@link loadEvalText}).
 * @throws PruneError EVAL_INVALID for seqlen < 2 or above `model.config.maxPositionEmbeddings`, maxWindows < 1, a text shorter than one window,
 *   `bosPerWindow` without a BOS token, or a model returning the wrong number of NLLs, NaN/±Inf
 *   NLLs, or NLLs below −1e-3 (a probability above 1).
 * @throws PruneError ABORTED when `signal` fires (checked before each window and by the model).
 * @throws TypeError when `text` is not a string. Errors thrown by the model or tokenizer propagate.
 * @example
 * const r = await perplexity(model, tokenizer, text, { seqlen: 256, datasetName: "tinystories_val" });
 * console.log(r.protocol); // "ppl 9.87 = exp(mean NLL 2.2895) on tinystories_val …"
 */
export async function perplexity(
  model: PerplexityModel,
  tokenizer: PerplexityTokenizer,
  text: string,
  options: PerplexityOptions,
): Promise<PerplexityResult> {
  checkOptions(options);
  const { seqlen, maxWindows, onProgress, signal } = options;
  const context = model.config?.maxPositionEmbeddings;
  if (typeof context === "number" && seqlen > context) {
    throw invalid(
      `perplexity: options.seqlen is longer than the model's context (max_position_embeddings). Expected seqlen ≤ ${context}, got ${seqlen}.`,
    );
  }
  const bosPerWindow = options.bosPerWindow ?? false;
  const clock = options.clock ?? ((): number => performance.now());
  const datasetName = options.datasetName ?? "unnamed";
  if (typeof text !== "string") throw new TypeError(`perplexity: text must be a string, got ${typeof text}`);
  if (text.length === 0) {
    throw invalid(`perplexity: evaluation text "${datasetName}" is empty. Expected some text, got none.`);
  }
  throwIfAborted(signal, "perplexity");
  const started = clock();

  const utf8 = new TextEncoder().encode(text); // (bytes,)
  const sha256 = await sha256Hex(utf8);
  let chars = 0;
  for (const _ of text) chars++;

  const cut = cutWindows(tokenizer, text, seqlen, bosPerWindow);
  if (cut.available < 1) {
    const need = bosPerWindow ? seqlen - 1 : seqlen;
    throw invalid(
      `perplexity: text "${datasetName}" is shorter than one window of options.seqlen = ${seqlen}. Expected ≥ ${need} stream tokens, got ${cut.stream.length}.`,
    );
  }
  const total = maxWindows === undefined ? cut.available : Math.min(maxWindows, cut.available);

  // Neumaier-compensated float64 sum: exact enough for millions of tokens.
  let sum = 0;
  let comp = 0;
  onProgress?.(0, total);
  const tick = createYielder(signal);
  for (let k = 0; k < total; k++) {
    await tick(`perplexity (window ${k}/${total})`);
    const nll = await (signal !== undefined
      ? model.nll(cut.window(k), { signal })
      : model.nll(cut.window(k)));
    if (nll === null || typeof nll !== "object" || nll.length !== seqlen - 1) {
      throw invalid(
        `perplexity: model.nll returned the wrong number of values for window ${k}. Expected ${seqlen - 1} (seqlen − 1), got ${String((nll as { length?: unknown } | null)?.length)}.`,
      );
    }
    for (let i = 0; i < nll.length; i++) {
      const v = nll[i]!;
      if (!Number.isFinite(v) || v < -1e-3) {
        throw invalid(
          `perplexity: model.nll returned an invalid value for window ${k}, position ${i + 1}. Expected a finite NLL ≥ 0, got ${v}.`,
        );
      }
      const s = sum + v;
      comp += Math.abs(sum) >= Math.abs(v) ? sum - s + v : v - s + sum;
      sum = s;
    }
    onProgress?.(k + 1, total);
  }
  const tokensScored = total * (seqlen - 1);
  const meanNll = (sum + comp) / tokensScored;
  const ppl = Math.exp(meanNll);
  const wallTimeMs = clock() - started;
  const checksum = options.modelChecksum ?? null;
  const backend = options.backendName ?? "unspecified";

  const bosText = bosPerWindow
    ? `[BOS=${tokenizer.bosId}] + ${seqlen - 1} stream tokens per window`
    : tokenizer.bosId === undefined
      ? "no BOS (tokenizer has none)"
      : `BOS=${tokenizer.bosId} once at the stream start`;
  const protocol =
    `ppl ${ppl.toFixed(4)} = exp(mean NLL ${meanNll.toFixed(6)}) on ${datasetName} ` +
    `(sha256 ${sha256}, ${chars} chars, ${cut.stream.length} tokens as one stream, ${bosText}): ` +
    `${total} of ${cut.available} non-overlapping windows of seqlen ${seqlen}, remainder dropped, ` +
    `${tokensScored} tokens scored (seqlen − 1 per window, no cross-window context), float64 mean; ` +
    `model ${checksum ?? "checksum unknown"}; backend ${backend}; ${wallTimeMs.toFixed(0)} ms`;

  return {
    ppl,
    meanNll,
    tokensScored,
    windows: total,
    windowsAvailable: cut.available,
    seqlen,
    bosPerWindow,
    dataset: { name: datasetName, sha256, chars, bytes: utf8.byteLength, tokens: cut.stream.length },
    model: { checksum },
    backend,
    wallTimeMs,
    protocol,
  };
}
