import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { loadHfTokenizer } from "./hf-tokenizer.ts";

// A hand-written byte-level BPE tokenizer.json (GPT-2 style): "Ġ" marks a leading space.
const PIECES = ["H", "e", "l", "o", "Ġ", "w", "r", "d", "!", "He", "ll", "llo", "Ġw", "Ġwor", "or"];
const vocab: Record<string, number> = { "<s>": 0, "</s>": 1, "<unk>": 2 };
for (const p of PIECES) vocab[p] = Object.keys(vocab).length;
const special = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});
const TOKENIZER_JSON = {
  version: "1.0",
  added_tokens: [special(0, "<s>"), special(1, "</s>")],
  normalizer: null,
  pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  // A post-processor that would add <s>: loadHfTokenizer must not let it.
  post_processor: {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    pair: [],
    special_tokens: { "<s>": { id: "<s>", ids: [0], tokens: ["<s>"] } },
  },
  decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  model: {
    type: "BPE",
    dropout: null,
    unk_token: "<unk>",
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    vocab,
    merges: ["l l", "ll o", "Ġ w", "o r", "Ġw or", "H e"],
  },
};

describe("loadHfTokenizer", () => {
  it("encodes with the BPE merges, adding BOS/EOS only when asked", async () => {
    const tok = await loadHfTokenizer(TOKENIZER_JSON, { bos_token: "<s>", eos_token: { content: "</s>" } });
    // He | llo | Ġwor | l | d | !
    const ids = [vocab["He"], vocab["llo"], vocab["Ġwor"], vocab["l"], vocab["d"], vocab["!"]];
    expect(Array.from(tok.encode("Hello world!"))).toEqual(ids);
    expect(Array.from(tok.encode("Hello world!", { bos: true, eos: true }))).toEqual([0, ...ids, 1]);
    expect([tok.vocabSize, tok.bosId, tok.eosId]).toEqual([18, 0, 1]);
  });

  it("decodes back to the text, skipping special tokens", async () => {
    const tok = await loadHfTokenizer(TOKENIZER_JSON, { bos_token: "<s>", eos_token: "</s>" });
    expect(tok.decode(tok.encode("Hello world!", { bos: true, eos: true }))).toBe("Hello world!");
    expect(() => tok.decode([18])).toThrow(RangeError);
  });

  it("has no BOS without a tokenizer config and refuses to invent one", async () => {
    const tok = await loadHfTokenizer(TOKENIZER_JSON);
    expect(tok.bosId).toBeUndefined();
    expect(() => tok.encode("Hello", { bos: true })).toThrow(/no bos_token/);
  });

  it("rejects a BOS token that is not in the vocabulary, and a broken tokenizer.json", async () => {
    await expect(loadHfTokenizer(TOKENIZER_JSON, { bos_token: "<bos>" })).rejects.toSatisfy(
      (e: unknown) => isPruneError(e, "TOKENIZER_INVALID") && /bos_token "<bos>"/.test((e as Error).message),
    );
    await expect(loadHfTokenizer({ model: { type: "NoSuchModel" } })).rejects.toSatisfy((e: unknown) =>
      isPruneError(e, "TOKENIZER_INVALID"),
    );
  });
});

// A Llama-style SentencePiece BPE tokenizer.json: "▁" for spaces (Prepend + Replace normalizer),
// byte-fallback pieces <0x00>..<0xFF> at ids 3..258, and the Replace/ByteFallback/Fuse/Strip decoder.
function llamaStyleTokenizer(): { json: object; vocab: Record<string, number> } {
  const pieces = [
    "▁",
    "H",
    "e",
    "l",
    "o",
    "w",
    "r",
    "d",
    "▁w",
    "▁H",
    "ll",
    "llo",
    "▁He",
    "▁Hello",
    "or",
    "▁wor",
    "▁worl",
    "▁world",
  ];
  const v: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let b = 0; b < 256; b++) v[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = 3 + b;
  for (const p of pieces) v[p] = Object.keys(v).length;
  return {
    vocab: v,
    json: {
      version: "1.0",
      added_tokens: [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
      normalizer: {
        type: "Sequence",
        normalizers: [
          { type: "Prepend", prepend: "▁" },
          { type: "Replace", pattern: { String: " " }, content: "▁" },
        ],
      },
      pre_tokenizer: null,
      post_processor: null,
      decoder: {
        type: "Sequence",
        decoders: [
          { type: "Replace", pattern: { String: "▁" }, content: " " },
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
        vocab: v,
        merges: ["▁ w", "▁ H", "l l", "ll o", "▁H e", "▁He llo", "o r", "▁w or", "▁wor l", "▁worl d"],
      },
    },
  };
}

describe("loadHfTokenizer with a Llama-style SentencePiece BPE", () => {
  it("merges pieces, falls back to byte tokens for unknown characters, and decodes back", async () => {
    const { json, vocab: v } = llamaStyleTokenizer();
    const tok = await loadHfTokenizer(json, { bos_token: { content: "<s>" }, eos_token: "</s>" });
    const ids = Array.from(tok.encode("Hello world é", { bos: true }));
    // é = C3 A9 is not a piece: byte tokens 3 + 0xC3, 3 + 0xA9.
    expect(ids).toEqual([1, v["▁Hello"], v["▁world"], v["▁"], 3 + 0xc3, 3 + 0xa9]);
    expect(tok.decode(ids)).toBe("Hello world é");
    expect([tok.bosId, tok.eosId, tok.vocabSize]).toEqual([1, 2, 3 + 256 + 18]);
  });
});
