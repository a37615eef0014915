import { createRng, isPruneError } from "@mama-prune/core";
import { readLlama2cTokenizer } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { loadHfTokenizer } from "./hf-tokenizer.ts";
import { createLlama2cTokenizer, type Llama2cTokenizerData } from "./tokenizer.ts";
import { llama2cTokenizerConfig, llama2cTokenizerJson } from "./tokenizer-json.ts";

// Node's fs through a computed specifier so this package's typecheck needs no @types/node.
async function readRepoFile(path: string): Promise<Uint8Array> {
  const fsSpecifier: string = "node:fs/promises";
  const fs = (await import(fsSpecifier)) as { readFile(path: URL): Promise<Uint8Array> };
  return new Uint8Array(await fs.readFile(new URL(`../../../${path}`, import.meta.url)));
}

const PARSED = readLlama2cTokenizer(await readRepoFile("data/stories260K/tok512.bin"), 512, "tok512.bin");
const TEXT = new TextDecoder().decode(await readRepoFile("data/tinystories/tinystories_val.txt"));
const llama = createLlama2cTokenizer(PARSED);
// Through JSON text, as a file on disk would be read.
const JSON_TEXT = JSON.stringify(llama2cTokenizerJson(PARSED));
const hf = await loadHfTokenizer(JSON.parse(JSON_TEXT), llama2cTokenizerConfig(512));

/** Count of inputs on which the two tokenizers' ids (with BOS) or decoded texts differ. */
function disagreements(inputs: readonly string[]): { encode: number; decode: number; tokens: number } {
  let encode = 0;
  let decode = 0;
  let tokens = 0;
  for (const s of inputs) {
    const a = llama.encode(s, { bos: true });
    const b = hf.encode(s, { bos: true });
    tokens += a.length;
    if (a.length !== b.length || a.some((v, i) => v !== b[i])) encode++;
    if (llama.decode(a) !== hf.decode(a)) decode++;
  }
  return { encode, decode, tokens };
}

/** A synthetic llama2.c vocabulary: specials, the 256 byte pieces, then `pieces` with `scores`. */
function syntheticVocab(pieces: readonly string[], scores: readonly number[]): Llama2cTokenizerData {
  const enc = new TextEncoder();
  const hex = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
  const all = ["<unk>", "\n<s>\n", "\n</s>\n", ...Array.from({ length: 256 }, (_, b) => hex(b)), ...pieces];
  const s = [0, 0, 0, ...new Array<number>(256).fill(0), ...scores];
  return { vocab: all.map((p) => enc.encode(p)), scores: Float32Array.from(s) };
}

describe("llama2cTokenizerJson (stories260K tok512)", () => {
  it("has Llama-2's layout: ▁ pieces, byte fallback, specials, merges from the scores", () => {
    const json = JSON.parse(JSON_TEXT);
    expect(json.model.type).toBe("BPE");
    expect(json.model.byte_fallback).toBe(true);
    expect(Object.keys(json.model.vocab)).toHaveLength(512);
    expect([json.model.vocab["<s>"], json.model.vocab["<0x0A>"], json.model.vocab["▁t"]]).toEqual([
      1, 13, 259,
    ]);
    expect(json.added_tokens.map((t: { content: string }) => t.content)).toEqual(["<unk>", "<s>", "</s>"]);
    // 151 merged pieces; some have several splits (e.g. "▁the" = "▁t"+"he" = "▁th"+"e" …).
    expect(json.model.merges.length).toBe(165);
    expect(json.model.merges[0]).toEqual(["▁", "t"]); // piece 259 " t", the highest score
    expect([hf.vocabSize, hf.bosId, hf.eosId]).toEqual([512, 1, 2]);
  });

  it("encodes and decodes every line of the bundled TinyStories text exactly like llama2.c", () => {
    const lines = TEXT.split("\n");
    const r = disagreements(lines);
    expect(lines.length).toBe(6501);
    expect(r.tokens).toBeGreaterThan(280_000);
    expect([r.encode, r.decode]).toEqual([0, 0]);
  });

  it("agrees on 2,000-character chunks (multi-line, mojibake included)", () => {
    const chunks: string[] = [];
    for (let i = 0; i < TEXT.length; i += 2000) chunks.push(TEXT.slice(i, i + 2000));
    expect(disagreements(chunks)).toMatchObject({ encode: 0, decode: 0 });
  });

  it("agrees on seeded random strings (spaces, newlines, accents, emoji, unknown characters)", () => {
    const rng = createRng(7);
    const alphabet = [
      " ",
      "  ",
      "\n",
      "\t",
      "a",
      "e",
      "t",
      "h",
      "Th",
      "é",
      "ü",
      "—",
      "“",
      "😀",
      "中",
      "'",
      ".",
      "!",
      "0",
    ];
    const inputs: string[] = [];
    for (let k = 0; k < 500; k++) {
      let s = "";
      const len = 1 + rng.int(40);
      for (let i = 0; i < len; i++) {
        s += rng.next() < 0.5 ? alphabet[rng.int(alphabet.length)] : PARSED.pieces[259 + rng.int(253)];
      }
      inputs.push(s);
    }
    expect(disagreements(inputs)).toMatchObject({ encode: 0, decode: 0 });
    expect(Array.from(hf.encode(""))).toEqual(Array.from(llama.encode(""))); // []
  });

  it("differs exactly where documented: literal ▁ and special-token text, decode without BOS", () => {
    // ▁ (U+2581) is a space to Hugging Face, three byte tokens to llama2.c.
    expect(Array.from(llama.encode("a\u2581b"))).toEqual([261, 229, 153, 132, 430]);
    expect(Array.from(hf.encode("a\u2581b"))).toEqual([261, 268]); // " a", " b"
    expect(Array.from(hf.encode("a b"))).toEqual([261, 268]);
    // "<s>" in the text is the BOS token to Hugging Face (as with Llama-2's tokenizer.json).
    expect(hf.encode("<s>x")[0]).toBe(1);
    expect(llama.encode("<s>x")).not.toContain(1);
    // Without a leading BOS, llama2.c keeps the dummy-prefix space; Hugging Face strips it.
    const ids = llama.encode("Once upon a time");
    expect(llama.decode(ids)).toBe(" Once upon a time");
    expect(hf.decode(ids)).toBe("Once upon a time");
  });
});

describe("llama2cTokenizerJson (synthetic vocabularies)", () => {
  it("equal scores on different competing pieces: llama2.c merges leftmost, Hugging Face by rank", async () => {
    // "ab" and "bc" tie; in "abc" llama2.c merges the leftmost pair (a·b), HF the lower rank (id order).
    const tie = syntheticVocab([" ", "a", "b", "c", "bc", "ab"], [-10, -11, -12, -13, -1, -1]);
    const a = createLlama2cTokenizer(tie);
    const b = await loadHfTokenizer(llama2cTokenizerJson(tie), llama2cTokenizerConfig());
    const [sp, , , c, bc, ab] = [259, 260, 261, 262, 263, 264];
    expect(Array.from(a.encode("abc"))).toEqual([sp, ab, c]);
    expect(Array.from(b.encode("abc"))).toEqual([sp, 260, bc]);
    // Distinct scores: the same merges on both sides.
    const distinct = syntheticVocab([" ", "a", "b", "c", "bc", "ab"], [-10, -11, -12, -13, -1, -2]);
    const a2 = createLlama2cTokenizer(distinct);
    const b2 = await loadHfTokenizer(llama2cTokenizerJson(distinct), llama2cTokenizerConfig());
    expect(Array.from(b2.encode("abc"))).toEqual(Array.from(a2.encode("abc")));
    expect(Array.from(b2.encode("abc"))).toEqual([sp, 260, bc]);
  });

  it("never merges pieces with score ≤ -1e10 (run.c's rule)", async () => {
    const v = syntheticVocab([" ", "a", "b", "ab"], [-10, -11, -12, -1e11]);
    expect(llama2cTokenizerJson(v).model.merges).toEqual([]);
    const b = await loadHfTokenizer(llama2cTokenizerJson(v), llama2cTokenizerConfig());
    expect(Array.from(b.encode("ab"))).toEqual(Array.from(createLlama2cTokenizer(v).encode("ab")));
  });

  it("rejects vocabularies a tokenizer.json cannot represent, naming the piece", () => {
    const codeOf = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        if (isPruneError(e)) return `${e.code}: ${e.message}`;
        throw e;
      }
      return "no error";
    };
    const dup = syntheticVocab([" ", "a", "a"], [-1, -2, -3]);
    expect(codeOf(() => llama2cTokenizerJson(dup))).toMatch(
      /TOKENIZER_INVALID.*pieces 260 and 261 are both "a"/,
    );
    const meta = syntheticVocab([" ", "\u2581x"], [-1, -2]);
    expect(codeOf(() => llama2cTokenizerJson(meta))).toMatch(/TOKENIZER_INVALID.*piece 260 contains/);
    const badUtf8: Llama2cTokenizerData = {
      vocab: [...syntheticVocab([" "], [-1]).vocab, Uint8Array.of(0xff)],
      scores: new Float32Array(261),
    };
    expect(codeOf(() => llama2cTokenizerJson(badUtf8))).toMatch(
      /TOKENIZER_INVALID.*piece 260 is not valid UTF-8/,
    );
    const short: Llama2cTokenizerData = {
      vocab: PARSED.vocab.slice(0, 100),
      scores: PARSED.scores.slice(0, 100),
    };
    expect(codeOf(() => llama2cTokenizerJson(short))).toMatch(/TOKENIZER_INVALID.*at least 259, got 100/);
  });
});
