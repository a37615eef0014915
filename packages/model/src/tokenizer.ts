import { PruneError } from "@mama-prune/core";

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Prepend the BOS token (default false). */
  readonly bos?: boolean;
  /** Append the EOS token (default false). */
  readonly eos?: boolean;
}

/** Text ⇄ token ids. Implemented for llama2.c `tokenizer.bin` and Hugging Face `tokenizer.json`. */
export interface Tokenizer {
  /** Number of token ids. */
  readonly vocabSize: number;
  /** Beginning-of-sequence id, if the tokenizer has one. */
  readonly bosId: number | undefined;
  /** End-of-sequence id, if the tokenizer has one. */
  readonly eosId: number | undefined;
  /** Token ids of `text` (BOS/EOS only when asked for). */
  encode(text: string, options?: EncodeOptions): Int32Array;
  /** Text of a sequence of ids; BOS/EOS ids produce no text. @throws RangeError for an id outside the vocabulary. */
  decode(ids: ArrayLike<number>): string;
}

/** The parsed llama2.c tokenizer consumed by {@link createLlama2cTokenizer} (e.g. tensor-io's `readLlama2cTokenizer`). */
export interface Llama2cTokenizerData {
  /** Raw bytes of each piece; byte-fallback pieces are the text `<0xXX>`. */
  readonly vocab: readonly Uint8Array[];
  /** Merge score of each piece (higher merges first). */
  readonly scores: Float32Array;
}

const BOS = 1;
const EOS = 2;
const BYTE_OFFSET = 3; // run.c: byte b is token b + 3
const HEX = "0123456789ABCDEF";

function bytesKey(b: Uint8Array): string {
  // One UTF-16 unit per byte: concatenating keys concatenates bytes, and lookups stay byte-exact.
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** Min-heap of candidate merges ordered by (score desc, left position asc), in parallel arrays. */
class MergeHeap {
  private readonly score: number[] = [];
  private readonly left: number[] = [];
  private readonly right: number[] = [];
  private readonly rightTok: number[] = [];
  private readonly merged: number[] = [];
  get size(): number {
    return this.score.length;
  }
  private before(a: number, b: number): boolean {
    const sa = this.score[a]!;
    const sb = this.score[b]!;
    return sa > sb || (sa === sb && this.left[a]! < this.left[b]!);
  }
  private swap(a: number, b: number): void {
    for (const arr of [this.score, this.left, this.right, this.rightTok, this.merged]) {
      const t = arr[a]!;
      arr[a] = arr[b]!;
      arr[b] = t;
    }
  }
  push(score: number, left: number, right: number, rightTok: number, merged: number): void {
    let i = this.score.length;
    this.score.push(score);
    this.left.push(left);
    this.right.push(right);
    this.rightTok.push(rightTok);
    this.merged.push(merged);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  /** Remove the top; returns [left, right, rightTok, merged]. */
  pop(): [number, number, number, number] {
    const top: [number, number, number, number] = [
      this.left[0]!,
      this.right[0]!,
      this.rightTok[0]!,
      this.merged[0]!,
    ];
    const last = this.score.length - 1;
    this.swap(0, last);
    for (const arr of [this.score, this.left, this.right, this.rightTok, this.merged]) arr.pop();
    let i = 0;
    const n = this.score.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.before(l, m)) m = l;
      if (r < n && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

/**
 * A tokenizer that reproduces llama2.c run.c's `encode` and `decode` exactly:
 * - encode: a dummy-prefix " " token when the text is non-empty; UTF-8 code points looked up as
 *   pieces, unknown ones as byte tokens (byte + 3); then repeatedly merge the adjacent pair whose
 *   concatenation is a piece with the highest score (leftmost on ties, scores must exceed −1e10 as
 *   in run.c); optional BOS = 1 / EOS = 2. run.c rescans all pairs per merge (O(n²)); here a heap with
 *   lazy invalidation gives the same merges in O(n log n), so a whole text can be encoded as one stream.
 * - decode: a piece's leading space is dropped right after BOS; `<0xXX>` pieces become raw bytes;
 *   bytes are assembled and decoded as UTF-8 once at the end. BOS/EOS themselves produce no text.
 *
 * Duplicate pieces resolve to the lowest id (run.c's bsearch picks an arbitrary one).
 *
 * @throws PruneError TOKENIZER_INVALID when vocab and scores differ in length, there are fewer than
 *   259 pieces, or ids 3..258 are not the byte pieces `<0x00>`..`<0xFF>`.
 * @example
 * const tok = createLlama2cTokenizer(readLlama2cTokenizer(bytes, 512, "tok512.bin"));
 * tok.encode("Once upon a time", { bos: true }); // Int32Array [1, 403, 407, 261, 378]
 */
export function createLlama2cTokenizer(parsed: Llama2cTokenizerData): Tokenizer {
  const { vocab, scores } = parsed;
  const n = vocab.length;
  const fail = (what: string): PruneError =>
    new PruneError("TOKENIZER_INVALID", `llama2.c tokenizer: ${what}`);
  if (scores.length !== n) {
    throw fail(`scores and vocab differ in length. Expected ${n} scores, got ${scores.length}.`);
  }
  if (n < BYTE_OFFSET + 256) {
    throw fail(`too few pieces for byte fallback. Expected at least ${BYTE_OFFSET + 256}, got ${n}.`);
  }
  const keys = vocab.map(bytesKey);
  for (let b = 0; b < 256; b++) {
    const want = `<0x${HEX[b >> 4]}${HEX[b & 15]}>`;
    if (keys[BYTE_OFFSET + b] !== want) {
      throw fail(
        `id ${BYTE_OFFSET + b} is not a byte piece. Expected "${want}", got "${keys[BYTE_OFFSET + b]}".`,
      );
    }
  }
  const lookup = new Map<string, number>();
  for (let id = n - 1; id >= 0; id--) lookup.set(keys[id]!, id); // lowest id wins
  const dummyPrefix = lookup.get(" ");
  const encoder = new TextEncoder();

  const encode = (text: string, options: EncodeOptions = {}): Int32Array => {
    if (typeof text !== "string") throw new TypeError("Llama2cTokenizer.encode: text must be a string");
    const bytes = encoder.encode(text);
    const toks: number[] = [];
    if (options.bos) toks.push(BOS);
    if (bytes.length > 0 && dummyPrefix !== undefined) toks.push(dummyPrefix);
    // Code points (run.c groups a lead byte with up to 3 continuation bytes).
    for (let i = 0; i < bytes.length; ) {
      const start = i++;
      while (i < bytes.length && (bytes[i]! & 0xc0) === 0x80 && i - start < 4) i++;
      let key = "";
      for (let j = start; j < i; j++) key += String.fromCharCode(bytes[j]!);
      const id = lookup.get(key);
      if (id !== undefined) toks.push(id);
      else for (let j = start; j < i; j++) toks.push(bytes[j]! + BYTE_OFFSET);
    }
    // Merges over a doubly linked list; heap entries are checked for staleness when popped.
    const m = toks.length;
    const tok = Int32Array.from(toks); // (m,)
    const next = new Int32Array(m); // (m,)
    const prev = new Int32Array(m); // (m,)
    const alive = new Uint8Array(m).fill(1); // (m,)
    for (let i = 0; i < m; i++) {
      next[i] = i + 1 < m ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new MergeHeap();
    const consider = (l: number, r: number): void => {
      if (l < 0 || r < 0) return;
      const id = lookup.get(keys[tok[l]!]! + keys[tok[r]!]!);
      if (id !== undefined && scores[id]! > -1e10) heap.push(scores[id]!, l, r, tok[r]!, id);
    };
    for (let i = 0; i + 1 < m; i++) consider(i, i + 1);
    while (heap.size > 0) {
      const [l, r, rTok, id] = heap.pop();
      if (!alive[l] || next[l] !== r || tok[r] !== rTok) continue; // stale
      tok[l] = id;
      alive[r] = 0;
      const nr = next[r]!;
      next[l] = nr;
      if (nr >= 0) prev[nr] = l;
      consider(prev[l]!, l);
      consider(l, nr);
    }
    const out: number[] = [];
    for (let i = m > 0 ? 0 : -1; i >= 0; i = next[i]!) out.push(tok[i]!);
    if (options.eos) out.push(EOS);
    return Int32Array.from(out);
  };

  const decode = (ids: ArrayLike<number>): string => {
    let buf = new Uint8Array(Math.max(16, ids.length * 4)); // (capacity,)
    let len = 0;
    let prevId = -1;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= n) {
        throw new RangeError(`Llama2cTokenizer.decode: id ${i} is ${id}, outside the vocabulary [0, ${n})`);
      }
      const p = prevId;
      prevId = id;
      if (id === BOS || id === EOS) continue;
      let piece = vocab[id]!;
      if (id >= BYTE_OFFSET && id < BYTE_OFFSET + 256) piece = Uint8Array.of(id - BYTE_OFFSET);
      else if (p === BOS && piece[0] === 0x20) piece = piece.subarray(1);
      if (len + piece.length > buf.length) {
        const grown = new Uint8Array(Math.max(2 * buf.length, len + piece.length)); // (capacity,)
        grown.set(buf.subarray(0, len));
        buf = grown;
      }
      buf.set(piece, len);
      len += piece.length;
    }
    return new TextDecoder("utf-8").decode(buf.subarray(0, len));
  };

  return { vocabSize: n, bosId: BOS, eosId: EOS, encode, decode };
}
