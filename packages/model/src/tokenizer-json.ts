import { PruneError } from "@mama-prune/core";
import type { Llama2cTokenizerData } from "./tokenizer.ts";

/** The sentencepiece word-boundary marker that stands for a space in `tokenizer.json` pieces. */
const METASPACE = "\u2581";
const BOS = 1;
const BYTE_OFFSET = 3;
const SPECIAL_NAMES = ["<unk>", "<s>", "</s>"] as const;

/** An entry of `tokenizer.json`'s `added_tokens`. */
export interface AddedTokenJson {
  readonly id: number;
  readonly content: string;
  readonly single_word: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly normalized: boolean;
  readonly special: boolean;
}

/**
 * A Hugging Face `tokenizer.json` (the fields a Llama-2-style BPE tokenizer uses). Plain JSON data:
 * `JSON.stringify` it to write the file.
 */
export interface TokenizerJson {
  readonly version: "1.0";
  readonly truncation: null;
  readonly padding: null;
  readonly added_tokens: readonly AddedTokenJson[];
  readonly normalizer: Readonly<Record<string, unknown>>;
  readonly pre_tokenizer: null;
  readonly post_processor: Readonly<Record<string, unknown>>;
  readonly decoder: Readonly<Record<string, unknown>>;
  readonly model: {
    readonly type: "BPE";
    readonly dropout: null;
    readonly unk_token: string;
    readonly continuing_subword_prefix: null;
    readonly end_of_word_suffix: null;
    readonly fuse_unk: boolean;
    readonly byte_fallback: boolean;
    readonly ignore_merges: boolean;
    readonly vocab: Readonly<Record<string, number>>;
    readonly merges: readonly (readonly [string, string])[];
  };
}

const special = (id: number, content: string): AddedTokenJson => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

/**
 * Convert a llama2.c tokenizer (`tokenizer.bin`, parsed by tensor-io's `readLlama2cTokenizer`) to an
 * equivalent Hugging Face `tokenizer.json`, laid out like Llama-2's own:
 * - model `BPE` with `byte_fallback` (ids 3..258 are `<0x00>`..`<0xFF>`), the vocabulary's spaces
 *   written as `▁` (U+2581), ids 0/1/2 named `<unk>` / `<s>` / `</s>` (special added tokens);
 * - merges derived from the scores: every split `a + b` of a piece into two pieces of the vocabulary is
 *   a merge, ranked by the merged piece's score (highest first) — exactly the pairs llama2.c's encode
 *   can merge (pieces with score ≤ −1e10 are never merged, as in run.c);
 * - normalizer `Prepend("▁")` + `Replace(" " → "▁")` (llama2.c's dummy-prefix space and its spaces);
 * - post-processor `<s> $A` (BOS, as run.c's `encode(text, bos=1, eos=0)`; no EOS);
 * - decoder `Replace("▁" → " ")`, `ByteFallback`, `Fuse`, `Strip(" ", 1, 0)`.
 *
 * Load it with `@mama-prune/model`'s `loadHfTokenizer(json, llama2cTokenizerConfig())`, transformers.js or
 * Hugging Face tokenizers. Agreement with {@link createLlama2cTokenizer} (measured on the bundled
 * TinyStories text in `tokenizer-json.test.ts`: encode with BOS and decode agree on all 6,501 lines and
 * 290 chunks of 2,000 characters) holds except when:
 * - the text contains `▁` itself (read as a space here, as a character by llama2.c), or the literal
 *   special-token strings `<s>`, `</s>`, `<unk>` (read as those tokens here, as text by llama2.c);
 * - two different merges of equal score compete in one text: llama2.c merges the leftmost first, Hugging
 *   Face the lower rank (pieces with distinct scores, as in stories260K's tok512 and Llama-2's vocab,
 *   are unaffected except for overlapping splits of the same piece, e.g. `ab·a·ba` → `aba`);
 * - decoding ids that do not start with BOS: llama2.c keeps the dummy-prefix space, Hugging Face strips
 *   one leading space (like sentencepiece); a BOS in the middle strips the next space in llama2.c only.
 *   `<unk>` (id 0) decodes to "<unk>" in llama2.c and to nothing here (special token skipped).
 *
 * @throws PruneError TOKENIZER_INVALID when the vocabulary has fewer than 259 pieces, ids 3..258 are
 *   not the byte pieces, scores and vocab differ in length, a piece is not valid UTF-8, contains `▁`,
 *   or two ids have the same piece (a `tokenizer.json` vocabulary cannot hold duplicates).
 * @example
 * const json = llama2cTokenizerJson(readLlama2cTokenizer(bytes, 512, "tok512.bin"));
 * await writeFile("tokenizer.json", JSON.stringify(json));
 */
export function llama2cTokenizerJson(parsed: Llama2cTokenizerData): TokenizerJson {
  const { vocab, scores } = parsed;
  const n = vocab.length;
  const fail = (what: string): PruneError =>
    new PruneError("TOKENIZER_INVALID", `llama2.c tokenizer → tokenizer.json: ${what}`);
  if (scores.length !== n) {
    throw fail(`scores and vocab differ in length. Expected ${n} scores, got ${scores.length}.`);
  }
  if (n < BYTE_OFFSET + 256) {
    throw fail(`too few pieces for byte fallback. Expected at least ${BYTE_OFFSET + 256}, got ${n}.`);
  }
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const pieces: string[] = [];
  for (let id = 0; id < n; id++) {
    if (id < SPECIAL_NAMES.length) {
      pieces.push(SPECIAL_NAMES[id]!);
      continue;
    }
    let text: string;
    try {
      text = decoder.decode(vocab[id]!);
    } catch {
      throw fail(
        `piece ${id} is not valid UTF-8. Expected UTF-8 text, got bytes [${Array.from(vocab[id]!)}].`,
      );
    }
    if (id >= BYTE_OFFSET && id < BYTE_OFFSET + 256) {
      const b = id - BYTE_OFFSET;
      const want = `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
      if (text !== want) throw fail(`id ${id} is not a byte piece. Expected "${want}", got "${text}".`);
    } else if (text.includes(METASPACE)) {
      throw fail(`piece ${id} contains "${METASPACE}" (U+2581). Expected no U+2581, got "${text}".`);
    }
    pieces.push(text.replaceAll(" ", METASPACE));
  }
  const vocabJson: Record<string, number> = {};
  for (let id = 0; id < n; id++) {
    const p = pieces[id]!;
    const seen = vocabJson[p];
    if (seen !== undefined) {
      throw fail(`pieces ${seen} and ${id} are both "${p}". Expected unique pieces, got a duplicate.`);
    }
    vocabJson[p] = id;
  }
  // Every way run.c can form a piece: two adjacent pieces whose concatenation is that piece.
  const candidates: { score: number; id: number; split: number; pair: [string, string] }[] = [];
  for (let id = BYTE_OFFSET + 256; id < n; id++) {
    const score = scores[id]!;
    if (!(score > -1e10)) continue;
    const cps = Array.from(pieces[id]!);
    for (let k = 1; k < cps.length; k++) {
      const a = cps.slice(0, k).join("");
      const b = cps.slice(k).join("");
      const ia = vocabJson[a];
      const ib = vocabJson[b];
      if (ia === undefined || ib === undefined || ia < SPECIAL_NAMES.length || ib < SPECIAL_NAMES.length) {
        continue;
      }
      candidates.push({ score, id, split: k, pair: [a, b] });
    }
  }
  candidates.sort((x, y) => y.score - x.score || x.id - y.id || x.split - y.split);
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_NAMES.map((name, id) => special(id, name)),
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: METASPACE },
        { type: "Replace", pattern: { String: " " }, content: METASPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [BOS], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: METASPACE }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: vocabJson,
      merges: candidates.map((c) => c.pair),
    },
  };
}

/**
 * The `tokenizer_config.json` that goes with {@link llama2cTokenizerJson}: BOS `<s>` (added by default,
 * as run.c does), EOS `</s>`, no decode clean-up (which would change `" ."` into `"."`).
 *
 * @param modelMaxLength The model's context length (llama2.c `seq_len`), if known.
 */
export function llama2cTokenizerConfig(modelMaxLength?: number): Record<string, unknown> {
  return {
    tokenizer_class: "LlamaTokenizer",
    bos_token: "<s>",
    eos_token: "</s>",
    unk_token: "<unk>",
    add_bos_token: true,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    legacy: true,
    ...(modelMaxLength === undefined ? {} : { model_max_length: modelMaxLength }),
  };
}
