// ---- Perplexity of a checkpoint streamed block by block, with eval's protocol line ----

import type { ComputeBackend } from "@mama-prune/core";
import {
  cachingTokenizer,
  cutWindows,
  type PerplexityResult,
  type PerplexityTokenizer,
  perplexity,
} from "@mama-prune/eval";
import { parseLlamaConfig } from "@mama-prune/model";
import type { Checkpoint } from "@mama-prune/tensor-io";
import { perplexityStreaming, type StreamEvalProgress } from "./stream-eval.ts";

/** Options of {@link streamingPerplexity}: eval's `perplexity` options (BOS once at the stream start) plus the backend. */
export interface StreamingPerplexityOptions {
  readonly seqlen: number;
  readonly maxWindows?: number;
  readonly datasetName: string;
  readonly modelChecksum?: string;
  readonly backend: ComputeBackend;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: StreamEvalProgress) => void;
}

/**
 * Perplexity of `checkpoint` on `text` with one decoder block resident (the pipeline's
 * {@link perplexityStreaming}: hidden states of every window kept, blocks streamed, the head over
 * vocabulary chunks), returned as eval's `PerplexityResult` with its full protocol line: the
 * per-token NLLs of the streaming pass are replayed through eval's `perplexity`, which tokenizes,
 * hashes the text, checks the windows and sums the NLLs in the same order, so the protocol (dataset
 * sha256, windows, tokens, checksum, backend) is built exactly as for a resident model. The wall time
 * covers the whole call.
 *
 * @throws PruneError everything `perplexity` and `perplexityStreaming` throw (EVAL_INVALID, TENSOR_IO_*, ABORTED).
 * @example
 * const r = await streamingPerplexity(ckpt, tokenizer, text, { seqlen: 256, datasetName: "val.txt", backend });
 * r.protocol; // "ppl 3.9401 = exp(mean NLL …) on val.txt (sha256 …) … backend js; … ms"
 */
export async function streamingPerplexity(
  checkpoint: Checkpoint,
  tokenizer: PerplexityTokenizer,
  text: string,
  o: StreamingPerplexityOptions,
): Promise<PerplexityResult> {
  const started = performance.now();
  const tok = cachingTokenizer(tokenizer);
  const cfg = parseLlamaConfig(checkpoint.config, `${checkpoint.source} config`);
  const replay: { nll: Float64Array; next: number } = { nll: new Float64Array(0), next: 0 };
  // Streaming runs only when the text holds a window and seqlen is valid: otherwise perplexity throws
  // its own error below, before asking for any NLL.
  const valid =
    typeof text === "string" &&
    text.length > 0 &&
    Number.isInteger(o.seqlen) &&
    o.seqlen >= 2 &&
    o.seqlen <= cfg.maxPositionEmbeddings &&
    (o.maxWindows === undefined || (Number.isInteger(o.maxWindows) && o.maxWindows >= 1));
  if (valid) {
    const windows = cutWindows(tok, text, o.seqlen, false);
    if (windows.available >= 1) {
      const s = await perplexityStreaming({
        checkpoint,
        windows,
        seqlen: o.seqlen,
        ...(o.maxWindows !== undefined ? { maxWindows: o.maxWindows } : {}),
        backend: o.backend,
        ...(o.signal !== undefined ? { signal: o.signal } : {}),
        ...(o.onProgress !== undefined ? { onProgress: o.onProgress } : {}),
      });
      replay.nll = s.nll;
    }
  }
  const per = o.seqlen - 1;
  let first = true;
  return await perplexity(
    {
      config: { maxPositionEmbeddings: cfg.maxPositionEmbeddings },
      nll: async () => replay.nll.subarray(replay.next * per, ++replay.next * per),
    },
    tok,
    text,
    {
      seqlen: o.seqlen,
      ...(o.maxWindows !== undefined ? { maxWindows: o.maxWindows } : {}),
      datasetName: o.datasetName,
      backendName: o.backend.name,
      ...(o.modelChecksum !== undefined ? { modelChecksum: o.modelChecksum } : {}),
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
      // The first reading is the start of the streaming pass, so wallTimeMs covers it.
      clock: () => {
        if (!first) return performance.now();
        first = false;
        return started;
      },
    },
  );
}
