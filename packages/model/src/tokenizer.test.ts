import { isPruneError } from "@mama-prune/core";
import { readLlama2cTokenizer } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { createLlama2cTokenizer, type Llama2cTokenizerData } from "./tokenizer.ts";

// Node's fs through a computed specifier so this package's typecheck needs no @types/node.
async function readRepoFile(path: string): Promise<Uint8Array> {
  const fsSpecifier: string = "node:fs/promises";
  const fs = (await import(fsSpecifier)) as { readFile(path: URL): Promise<Uint8Array> };
  return new Uint8Array(await fs.readFile(new URL(`../../../${path}`, import.meta.url)));
}

const PARSED = readLlama2cTokenizer(await readRepoFile("data/stories260K/tok512.bin"), 512, "tok512.bin");
const TEXT = new TextDecoder().decode(await readRepoFile("data/tinystories/tinystories_val.txt"));
const tok = createLlama2cTokenizer(PARSED);

/** A line-by-line transcription of run.c's encode (O(n²) rescans), sharing nothing with tokenizer.ts. */
function runCEncode(data: Llama2cTokenizerData, text: string, bos: boolean, eos: boolean): number[] {
  const keyOf = (b: Uint8Array): string => Array.from(b, (c) => String.fromCharCode(c)).join("");
  const vocab = data.vocab.map(keyOf);
  const strLookup = (s: string): number => vocab.indexOf(s); // run.c: bsearch over the sorted vocab
  const tokens: number[] = [];
  if (bos) tokens.push(1);
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > 0) tokens.push(strLookup(" "));
  let buf: number[] = [];
  for (let c = 0; c < bytes.length; c++) {
    if ((bytes[c]! & 0xc0) !== 0x80) buf = [];
    buf.push(bytes[c]!);
    if (c + 1 < bytes.length && (bytes[c + 1]! & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = strLookup(String.fromCharCode(...buf));
    if (id !== -1) tokens.push(id);
    else for (const b of buf) tokens.push(b + 3);
    buf = [];
  }
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = strLookup(vocab[tokens[i]!]! + vocab[tokens[i + 1]!]!);
      if (id !== -1 && data.scores[id]! > bestScore) {
        bestScore = data.scores[id]!;
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens[bestIdx] = bestId;
    tokens.splice(bestIdx + 1, 1);
  }
  if (eos) tokens.push(2);
  return tokens;
}

describe("createLlama2cTokenizer", () => {
  it('encodes "Once upon a time" with BOS as llama2.c does', () => {
    expect(Array.from(tok.encode("Once upon a time", { bos: true }))).toEqual([1, 403, 407, 261, 378]);
    expect(Array.from(tok.encode("Once upon a time", { bos: true, eos: true }))).toEqual([
      1, 403, 407, 261, 378, 2,
    ]);
    expect([tok.vocabSize, tok.bosId, tok.eosId]).toEqual([512, 1, 2]);
  });

  it("agrees with a transcription of run.c's encode on 60 paragraphs and on tricky strings", () => {
    const paragraphs = TEXT.split("\n\n").slice(0, 60);
    const tricky = [
      "",
      " ",
      "  two  spaces ",
      "é日本語🙂 mixed ünïcödé",
      "\u0000nul",
      "tab\there\nnewline",
      "aaaaaaaaaa",
      "the the the",
    ];
    for (const p of [...paragraphs, ...tricky]) {
      expect(Array.from(tok.encode(p, { bos: true }))).toEqual(runCEncode(PARSED, p, true, false));
      expect(Array.from(tok.encode(p))).toEqual(runCEncode(PARSED, p, false, false));
    }
  });

  it("round-trips the whole bundled TinyStories text, encoded as one stream", () => {
    const ids = tok.encode(TEXT, { bos: true });
    expect(ids.length).toBeGreaterThan(100_000);
    expect(ids.length).toBeLessThan(TEXT.length / 2); // merges really happened
    expect(tok.decode(ids)).toBe(TEXT);
  });

  it("round-trips each paragraph", () => {
    for (const p of TEXT.split("\n\n").slice(0, 500))
      expect(tok.decode(tok.encode(p, { bos: true }))).toBe(p);
  });

  it("falls back to byte tokens (byte + 3) for characters outside the vocabulary", () => {
    // "日" = E6 97 A5 and "🙂" = F0 9F 99 82 are not pieces of tok512 (" " is piece 410).
    const ids = Array.from(tok.encode("日🙂"));
    expect(ids).toEqual([410, 0xe6 + 3, 0x97 + 3, 0xa5 + 3, 0xf0 + 3, 0x9f + 3, 0x99 + 3, 0x82 + 3]);
    expect(tok.decode(ids)).toBe(" 日🙂");
    expect(tok.decode([1, ...ids])).toBe("日🙂");
  });

  it("decodes like run.c: drops the leading space after BOS only, skips BOS/EOS", () => {
    expect(tok.decode([403, 407])).toBe(" Once upon");
    expect(tok.decode([1, 403, 407, 2])).toBe("Once upon");
    expect(() => tok.decode([512])).toThrow(RangeError);
    expect(() => tok.decode([1.5])).toThrow(RangeError);
  });

  it("rejects a vocabulary without the byte pieces", () => {
    const bad = {
      vocab: PARSED.vocab.map((v, i) => (i === 100 ? new TextEncoder().encode("x") : v)),
      scores: PARSED.scores,
    };
    expect(() => createLlama2cTokenizer(bad)).toThrow(/id 100 is not a byte piece/);
    let err: unknown;
    try {
      createLlama2cTokenizer({ vocab: PARSED.vocab.slice(0, 10), scores: PARSED.scores.slice(0, 10) });
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "TOKENIZER_INVALID")).toBe(true);
    expect(() => createLlama2cTokenizer({ vocab: PARSED.vocab, scores: PARSED.scores.slice(1) })).toThrow(
      /differ in length/,
    );
  });
});
