// llama2.c tokenizer.bin parsing (the format run.c's build_tokenizer reads). Parsing only: encoding
// and decoding live in @mama-prune/model.
//
// Layout (little-endian): int32 max_token_length, then vocab_size records of
//   float32 score, int32 len, len bytes (the piece, raw bytes, not NUL-terminated).
// The file does not store vocab_size: it comes from the model header.

import { PruneError } from "@mama-prune/core";

/** A parsed llama2.c tokenizer. */
export interface Llama2cTokenizer {
  /** Raw bytes of each piece (byte tokens like `<0x0A>` are stored as that text). */
  readonly vocab: readonly Uint8Array[];
  /** Each piece decoded as UTF-8 (invalid sequences become U+FFFD). */
  readonly pieces: readonly string[];
  /** Merge score of each piece (higher merges first). */
  readonly scores: Float32Array;
  /** The stored maximum piece length in bytes. */
  readonly maxTokenLength: number;
}

/** Bound on the header's max_token_length (pieces are short strings; guards hostile files). */
const MAX_TOKEN_LENGTH = 1 << 16;

/**
 * Parse a llama2.c `tokenizer.bin`.
 *
 * @param bytes The whole file.
 * @param vocabSize Number of tokens (the model's vocab_size; the file does not store it).
 * @param name File name for error messages.
 * @throws PruneError TOKENIZER_INVALID when the file is truncated, a length is negative or exceeds
 *   max_token_length, a score is not finite, or bytes are left over after `vocabSize` tokens.
 * @throws RangeError when `vocabSize` is not a positive integer.
 * @example
 * const tok = readLlama2cTokenizer(bytes, 512, "tok512.bin");
 * tok.pieces[259]; // " t"
 */
export function readLlama2cTokenizer(
  bytes: Uint8Array,
  vocabSize: number,
  name = "<memory>",
): Llama2cTokenizer {
  if (!Number.isSafeInteger(vocabSize) || vocabSize <= 0) {
    throw new RangeError(`readLlama2cTokenizer: vocabSize must be a positive integer, got ${vocabSize}`);
  }
  const fail = (what: string): PruneError => new PruneError("TOKENIZER_INVALID", `${name}: ${what}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) {
    throw fail(
      `file is too short for a llama2.c tokenizer. Expected at least 4 bytes, got ${bytes.byteLength}.`,
    );
  }
  const maxTokenLength = dv.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > MAX_TOKEN_LENGTH) {
    throw fail(`max_token_length is out of range. Expected 1..${MAX_TOKEN_LENGTH}, got ${maxTokenLength}.`);
  }
  // Each record needs at least 8 bytes: refuse impossible vocab sizes before allocating.
  if (4 + 8 * vocabSize > bytes.byteLength) {
    throw fail(
      `file is too short for ${vocabSize} tokens. Expected at least ${4 + 8 * vocabSize} bytes, got ${bytes.byteLength}.`,
    );
  }
  const decoder = new TextDecoder("utf-8", { fatal: false });
  const vocab: Uint8Array[] = [];
  const pieces: string[] = [];
  const scores = new Float32Array(vocabSize); // (vocab,)
  let off = 4;
  for (let id = 0; id < vocabSize; id++) {
    if (off + 8 > bytes.byteLength) {
      throw fail(
        `token ${id} record is truncated at byte ${off}. Expected 8 more bytes, got ${bytes.byteLength - off}.`,
      );
    }
    const score = dv.getFloat32(off, true);
    const len = dv.getInt32(off + 4, true);
    off += 8;
    if (!Number.isFinite(score))
      throw fail(`token ${id} has a non-finite score. Expected a finite float, got ${score}.`);
    if (len < 0 || len > maxTokenLength) {
      throw fail(
        `token ${id} has an invalid length. Expected 0..${maxTokenLength} (max_token_length), got ${len}.`,
      );
    }
    if (off + len > bytes.byteLength) {
      throw fail(
        `token ${id} bytes run past the end of the file. Expected ${len} bytes at ${off}, got ${bytes.byteLength - off}.`,
      );
    }
    const piece = bytes.slice(off, off + len);
    off += len;
    vocab.push(piece);
    pieces.push(decoder.decode(piece));
    scores[id] = score;
  }
  if (off !== bytes.byteLength) {
    throw fail(
      `bytes left over after ${vocabSize} tokens (does vocab_size match?). Expected ${off} bytes, got ${bytes.byteLength}.`,
    );
  }
  return { vocab, pieces, scores, maxTokenLength };
}
