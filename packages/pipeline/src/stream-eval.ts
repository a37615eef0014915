// ---- Streaming evaluation: perplexity layer by layer, one decoder block resident at a time ----

import { type ComputeBackend, createYielder, PruneError, throwIfAborted } from "@mama-prune/core";
import type { PerplexityWindows } from "@mama-prune/eval";
import {
  type AttentionMode,
  createCpuBackend,
  LINEAR_NAMES,
  type LlamaConfig,
  loadLlama,
  parseLlamaConfig,
  rmsNorm,
} from "@mama-prune/model";
import { bytesToF32Into, type Checkpoint, dtypeByteSize, type TensorInfo } from "@mama-prune/tensor-io";
import { blockCheckpoint } from "./block-view.ts";

/** Progress of {@link perplexityStreaming}: `done` of `total` units of the current stage. */
export interface StreamEvalProgress {
  /** "embed" (windows), "block" (decoder blocks), "head" (vocabulary chunks of the lm head). */
  readonly stage: "embed" | "block" | "head";
  readonly done: number;
  readonly total: number;
}

/** Options of {@link perplexityStreaming}. */
export interface PerplexityStreamingOptions {
  /** The model, read one tensor at a time (HF folder, safetensors file or llama2.c file); never modified. */
  readonly checkpoint: Checkpoint;
  /**
   * The windows: `@mama-prune/eval`'s `cutWindows(tokenizer, text, seqlen, bosPerWindow)` (the
   * protocol of its `perplexity`), or a token stream cut into non-overlapping windows of `seqlen`
   * (remainder dropped). Exactly one of `windows` and `tokens`.
   */
  readonly windows?: PerplexityWindows;
  /** A token stream; window k = tokens[k·seqlen, (k+1)·seqlen). */
  readonly tokens?: Int32Array;
  /** Tokens per window, ≥ 2 and ≤ the model's max_position_embeddings. */
  readonly seqlen: number;
  /** Score only the first `maxWindows` windows. Default: all. */
  readonly maxWindows?: number;
  /** Backend of every matmul (default the plain-JS `createCpuBackend()`). */
  readonly backend?: ComputeBackend;
  /** Windows per decoder-block call (default: enough for ≥ 1024 rows). Does not change the result. */
  readonly batchSize?: number;
  /** Vocabulary rows of the lm head per chunk (default 4096). Does not change the result beyond float64 rounding. */
  readonly vocabChunk?: number;
  /** Hidden-state rows per lm-head matmul (default 2048). */
  readonly headRows?: number;
  /** Attention of the blocks (default "backend", as `loadLlama`). */
  readonly attention?: AttentionMode;
  /** Checked between windows, blocks and head chunks; an aborted run throws PruneError ABORTED. */
  readonly signal?: AbortSignal;
  /** Called after each unit of each stage. */
  readonly onProgress?: (p: StreamEvalProgress) => void;
  /** Milliseconds clock for the timings. Default `performance.now`. */
  readonly clock?: () => number;
}

/** Result of {@link perplexityStreaming}. */
export interface PerplexityStreamingResult {
  /** exp(meanNll). */
  readonly ppl: number;
  /** Mean NLL (nats) over windows × (seqlen − 1) scored tokens, float64 (Neumaier) sum. */
  readonly meanNll: number;
  readonly tokensScored: number;
  readonly windows: number;
  readonly seqlen: number;
  /** The backend's name. */
  readonly backend: string;
  /**
   * The NLL (nats) of every scored token, window-major: window k's seqlen − 1 values at
   * [k·(seqlen − 1), (k + 1)·(seqlen − 1)), in the order they are summed (e.g. to replay them
   * through `@mama-prune/eval`'s `perplexity` for its protocol line).
   */
  readonly nll: Float64Array;
  /** Wall time per stage (ms): embedding, every block (loading included), the lm head, the whole call. */
  readonly timings: {
    readonly embedMs: number;
    readonly blocksMs: number;
    readonly blockMs: readonly number[];
    readonly headMs: number;
    readonly totalMs: number;
  };
}

function invalid(message: string): PruneError {
  return new PruneError("EVAL_INVALID", message);
}

function positiveInt(label: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) {
    throw invalid(
      `perplexityStreaming: options.${label} must be a positive integer. Expected ≥ 1, got ${String(v)}.`,
    );
  }
  return v;
}

/** The windows to score, checked against the vocabulary and the context. */
function selectWindows(o: PerplexityStreamingOptions, cfg: LlamaConfig): Int32Array[] {
  const { seqlen } = o;
  if (!Number.isInteger(seqlen) || seqlen < 2) {
    throw invalid(
      `perplexityStreaming: options.seqlen must be an integer ≥ 2. Expected seqlen ≥ 2, got ${String(seqlen)}.`,
    );
  }
  if (seqlen > cfg.maxPositionEmbeddings) {
    throw invalid(
      `perplexityStreaming: options.seqlen is longer than the model's context (max_position_embeddings). Expected seqlen ≤ ${cfg.maxPositionEmbeddings}, got ${seqlen}.`,
    );
  }
  if ((o.windows === undefined) === (o.tokens === undefined)) {
    throw invalid(
      `perplexityStreaming: exactly one of options.windows and options.tokens is needed. Expected one, got ${o.windows === undefined ? "neither" : "both"}.`,
    );
  }
  const available = o.windows !== undefined ? o.windows.available : Math.floor(o.tokens!.length / seqlen);
  if (available < 1) {
    throw invalid(
      `perplexityStreaming: the tokens hold no whole window of seqlen ${seqlen}. Expected ≥ ${seqlen} tokens, got ${o.tokens?.length ?? 0}.`,
    );
  }
  const n = Math.min(available, positiveInt("maxWindows", o.maxWindows, available));
  const out: Int32Array[] = [];
  for (let k = 0; k < n; k++) {
    const w =
      o.windows !== undefined ? o.windows.window(k) : o.tokens!.subarray(k * seqlen, (k + 1) * seqlen);
    if (w.length !== seqlen) {
      throw invalid(
        `perplexityStreaming: window ${k} has ${w.length} tokens. Expected seqlen = ${seqlen}, got ${w.length}.`,
      );
    }
    for (let i = 0; i < w.length; i++) {
      const t = w[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= cfg.vocabSize) {
        throw invalid(
          `perplexityStreaming: window ${k}, position ${i} holds token ${t}. Expected an id in [0, ${cfg.vocabSize}), got ${t}.`,
        );
      }
    }
    out.push(w);
  }
  return out;
}

/** The stored bytes of a [vocab, hidden] matrix (embedding or lm head), its dtype checked. */
async function readMatrixRaw(
  ckpt: Checkpoint,
  name: string,
  rows: number,
  cols: number,
): Promise<{ raw: Uint8Array; info: TensorInfo; rowBytes: number }> {
  if (!ckpt.has(name)) {
    throw new PruneError(
      "TENSOR_IO_NOT_FOUND",
      `${ckpt.source}: missing tensor "${name}". Expected shape [${rows}, ${cols}], got no such tensor.`,
    );
  }
  const info = ckpt.info(name);
  if (info.shape.length !== 2 || info.shape[0] !== rows || info.shape[1] !== cols) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${ckpt.source}: tensor "${name}" has the wrong shape. Expected [${rows}, ${cols}], got [${info.shape.join(", ")}].`,
    );
  }
  const raw = await ckpt.readRaw(name);
  const rowBytes = cols * dtypeByteSize(info.dtype);
  if (raw.byteLength !== rows * rowBytes) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${ckpt.source}: tensor "${name}" read ${raw.byteLength} bytes. Expected ${rows * rowBytes}, got ${raw.byteLength}.`,
    );
  }
  return { raw, info, rowBytes };
}

/** Decode rows [r0, r1) of a raw matrix into `out` and refuse NaN/Inf (as `loadLlama` does). */
function decodeRows(
  ckpt: Checkpoint,
  m: { raw: Uint8Array; info: TensorInfo; rowBytes: number },
  r0: number,
  r1: number,
  out: Float32Array,
): Float32Array {
  bytesToF32Into(m.raw.subarray(r0 * m.rowBytes, r1 * m.rowBytes), m.info.dtype, out, m.info.name);
  for (let i = 0; i < out.length; i++) {
    const x = out[i]!;
    if (x - x !== 0) {
      throw new PruneError(
        "TENSOR_IO_MALFORMED",
        `${ckpt.source}: tensor "${m.info.name}" holds a non-finite value in row ${r0 + Math.floor(i / (out.length / (r1 - r0)))}. Expected finite weights, got ${x}.`,
      );
    }
  }
  return out;
}

/**
 * Perplexity of a checkpoint computed layer by layer, without ever holding the whole model: embed
 * every window, run block 0 over all windows, release it, load block 1, …, then the final RMSNorm and
 * the lm head. Resident: the hidden states of all windows (windows × seqlen × hidden float32), one
 * block's float32 weights (loaded through a one-block view of the checkpoint, the backend's caches of
 * it dropped when the next block loads), the stored bytes of the embedding (kept for the head when it
 * is tied: read once), and one vocabulary chunk of the head in float32 with its logits
 * [headRows, vocabChunk]. The head runs chunk by chunk over the vocabulary with an online float64
 * log-sum-exp per row, so the logits of a whole window never exist at once.
 *
 * Same protocol and numbers as `@mama-prune/eval`'s `perplexity` over the loaded model with the same
 * backend and attention (each window independent, seqlen − 1 scored tokens per window, float64 mean):
 * equal to ≤ 1e-9 relative (only the float64 rounding of the log-sum-exp differs).
 *
 * @throws PruneError EVAL_INVALID for bad options, a token outside the vocabulary or seqlen above the
 *   context; TENSOR_IO_NOT_FOUND / SHAPE_MISMATCH / TENSOR_IO_MALFORMED for a missing, misshapen or
 *   non-finite tensor; ABORTED when the signal fires; CONFIG_INVALID / ARCH_UNSUPPORTED from the config.
 * @example
 * const w = cutWindows(tokenizer, text, 512, false);
 * const r = await perplexityStreaming({ checkpoint, windows: w, seqlen: 512, maxWindows: 16, backend });
 * r.ppl; r.timings.blockMs;
 */
export async function perplexityStreaming(
  options: PerplexityStreamingOptions,
): Promise<PerplexityStreamingResult> {
  const clock = options.clock ?? ((): number => performance.now());
  const t0 = clock();
  const ckpt = options.checkpoint;
  if (ckpt === undefined) {
    throw invalid(
      "perplexityStreaming: options.checkpoint is required. Expected a Checkpoint, got undefined.",
    );
  }
  const cfg = parseLlamaConfig(ckpt.config, `${ckpt.source} config`);
  const { seqlen, signal, onProgress } = options;
  const wins = selectWindows(options, cfg);
  const batchSize = positiveInt("batchSize", options.batchSize, Math.max(1, Math.ceil(1024 / seqlen)));
  const vocabChunk = positiveInt("vocabChunk", options.vocabChunk, 4096);
  const headRows = positiveInt("headRows", options.headRows, 2048);
  const backend = options.backend ?? createCpuBackend();
  const H = cfg.hiddenSize;
  const V = cfg.vocabSize;
  const n = wins.length;
  const rows = n * seqlen;
  const where = "perplexityStreaming";
  // Lets a Ctrl-C handler or a timer run between batches (a backend may resolve without waiting).
  const tick = createYielder(signal);

  // Embedding: the stored bytes, rows decoded for the windows' tokens only.
  throwIfAborted(signal, where);
  let emb: Awaited<ReturnType<typeof readMatrixRaw>> | undefined = await readMatrixRaw(
    ckpt,
    "model.embed_tokens.weight",
    V,
    H,
  );
  let hidden: Float32Array = new Float32Array(rows * H); // (windows·seqlen, H)
  for (let k = 0; k < n; k++) {
    const w = wins[k]!;
    for (let i = 0; i < seqlen; i++) {
      const r = k * seqlen + i;
      decodeRows(ckpt, emb, w[i]!, w[i]! + 1, hidden.subarray(r * H, (r + 1) * H));
    }
    onProgress?.({ stage: "embed", done: k + 1, total: n });
  }
  if (!cfg.tieWordEmbeddings) emb = undefined; // the head reads lm_head.weight instead
  const t1 = clock();

  // Blocks, one resident at a time.
  const blockMs: number[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const tb = clock();
    throwIfAborted(signal, `${where} (block ${l}/${cfg.numLayers})`);
    const model = await loadLlama(blockCheckpoint(ckpt, l, H), {
      backend,
      ...(options.attention !== undefined ? { attention: options.attention } : {}),
      ...(signal !== undefined ? { signal } : {}),
    });
    for (let b0 = 0; b0 < n; b0 += batchSize) {
      await tick(`${where} (block ${l}, window ${b0})`);
      const nb = Math.min(batchSize, n - b0);
      const x = hidden.subarray(b0 * seqlen * H, (b0 + nb) * seqlen * H);
      x.set(await model.runBlock(0, x, nb, seqlen));
    }
    for (const name of LINEAR_NAMES) backend.invalidate(model.getLinearWeight(0, name));
    blockMs.push(clock() - tb);
    onProgress?.({ stage: "block", done: l + 1, total: cfg.numLayers });
  }
  const t2 = clock();

  // Final norm, then the head over vocabulary chunks with an online log-sum-exp per row.
  throwIfAborted(signal, where);
  const normW = await ckpt.readF32("model.norm.weight");
  if (normW.length !== H) {
    throw new PruneError(
      "SHAPE_MISMATCH",
      `${ckpt.source}: tensor "model.norm.weight" has ${normW.length} values. Expected ${H}, got ${normW.length}.`,
    );
  }
  const xn = rmsNorm(hidden, normW, rows, H, cfg.rmsNormEps, new Float32Array(rows * H)); // (rows, H)
  hidden = new Float32Array(0);
  const head = emb ?? (await readMatrixRaw(ckpt, "lm_head.weight", V, H));
  emb = undefined;
  const runMax = new Float64Array(rows).fill(Number.NEGATIVE_INFINITY); // (rows,)
  const runSum = new Float64Array(rows); // (rows,)
  const target = new Float64Array(rows); // (rows,) logit of the next token
  const targetId = new Int32Array(rows).fill(-1); // (rows,) −1 for the last row of a window
  for (let k = 0; k < n; k++)
    for (let i = 0; i + 1 < seqlen; i++) targetId[k * seqlen + i] = wins[k]![i + 1]!;
  const vc = Math.min(vocabChunk, V);
  const hr = Math.min(headRows, rows);
  const wBuf = new Float32Array(vc * H); // (vc, H)
  const logits = new Float32Array(hr * vc); // (hr, vc)
  // Each row's max and Σ exp(y − max) over a chunk: on the backend where it has them (the same bits
  // as the loops below, on all its threads), else in the loops.
  const rowStats = backend.rowMaxSumExp?.bind(backend);
  const chunkMax = new Float64Array(rowStats === undefined ? 0 : hr); // (hr,)
  const chunkSum = new Float64Array(rowStats === undefined ? 0 : hr); // (hr,)
  const chunks = Math.ceil(V / vc);
  for (let c = 0; c < chunks; c++) {
    throwIfAborted(signal, `${where} (head chunk ${c}/${chunks})`);
    const v0 = c * vc;
    const nv = Math.min(vc, V - v0);
    const w = decodeRows(ckpt, head, v0, v0 + nv, wBuf.subarray(0, nv * H));
    for (let r0 = 0; r0 < rows; r0 += hr) {
      await tick(`${where} (head chunk ${c}, row ${r0})`);
      const nr = Math.min(hr, rows - r0);
      const y = logits.subarray(0, nr * nv); // (nr, nv)
      await backend.matmulTransB(xn.subarray(r0 * H, (r0 + nr) * H), w, nr, H, nv, { out: y });
      if (rowStats !== undefined) await rowStats(y, nr, nv, chunkMax, chunkSum);
      for (let i = 0; i < nr; i++) {
        const r = r0 + i;
        if (targetId[r]! < 0) continue;
        const o = i * nv;
        let m = Number.NEGATIVE_INFINITY;
        let s = 0;
        if (rowStats !== undefined) {
          m = chunkMax[i]!;
          s = chunkSum[i]!;
        } else {
          for (let j = 0; j < nv; j++) if (y[o + j]! > m) m = y[o + j]!;
          for (let j = 0; j < nv; j++) s += Math.exp(y[o + j]! - m);
        }
        const pm = runMax[r]!;
        if (m > pm) {
          runSum[r] = runSum[r]! * Math.exp(pm - m) + s;
          runMax[r] = m;
        } else {
          runSum[r] = runSum[r]! + s * Math.exp(m - pm);
        }
        const t = targetId[r]! - v0;
        if (t >= 0 && t < nv) target[r] = y[o + t]!;
      }
    }
    backend.invalidate(w);
    onProgress?.({ stage: "head", done: c + 1, total: chunks });
  }

  // NLL per scored token, summed in window order (Neumaier), as eval's perplexity does.
  let sum = 0;
  let comp = 0;
  const nll = new Float64Array(n * (seqlen - 1)); // (windows·(seqlen − 1),)
  let at = 0;
  for (let r = 0; r < rows; r++) {
    if (targetId[r]! < 0) continue;
    const v = runMax[r]! + Math.log(runSum[r]!) - target[r]!;
    nll[at++] = v;
    if (!Number.isFinite(v)) {
      throw new PruneError(
        "NUMERIC_FAILURE",
        `${where}: the NLL of window ${Math.floor(r / seqlen)}, position ${(r % seqlen) + 1} is not finite. Expected a finite value, got ${v}.`,
      );
    }
    const s2 = sum + v;
    comp += Math.abs(sum) >= Math.abs(v) ? sum - s2 + v : v - s2 + sum;
    sum = s2;
  }
  const tokensScored = n * (seqlen - 1);
  const meanNll = (sum + comp) / tokensScored;
  const t3 = clock();
  return {
    ppl: Math.exp(meanNll),
    meanNll,
    tokensScored,
    windows: n,
    seqlen,
    backend: backend.name,
    nll,
    timings: { embedMs: t1 - t0, blocksMs: t2 - t1, blockMs, headMs: t3 - t2, totalMs: t3 - t0 },
  };
}
