import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isPruneError } from "@mama-prune/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readLlama2cTokenizer } from "./tokenizer-bin.ts";

const TOK = fileURLToPath(new URL("../../../data/stories260K/tok512.bin", import.meta.url));
const tok = new Uint8Array(readFileSync(TOK));

/** Build a tokenizer.bin from (score, piece) pairs. */
function build(maxLen: number, entries: [number, string | number[]][]): Uint8Array {
  const enc = new TextEncoder();
  const parts = entries.map(
    ([s, p]) => [s, typeof p === "string" ? enc.encode(p) : Uint8Array.from(p)] as const,
  );
  const size = 4 + parts.reduce((a, [, b]) => a + 8 + b.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, maxLen, true);
  let off = 4;
  for (const [s, b] of parts) {
    dv.setFloat32(off, s, true);
    dv.setInt32(off + 4, b.length, true);
    out.set(b, off + 8);
    off += 8 + b.length;
  }
  return out;
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(isPruneError(e), String(e)).toBe(true);
    return `${(e as { code: string }).code}: ${(e as Error).message}`;
  }
  throw new Error("nothing thrown");
}

describe("readLlama2cTokenizer", () => {
  it("parses the bundled tok512.bin", () => {
    const t = readLlama2cTokenizer(tok, 512, "tok512.bin");
    expect(t.maxTokenLength).toBe(7);
    expect(t.pieces.length).toBe(512);
    expect(t.vocab.length).toBe(512);
    expect(t.scores.length).toBe(512);
    expect(t.pieces.slice(0, 3)).toEqual(["<unk>", "\n<s>\n", "\n</s>\n"]);
    for (let b = 0; b < 256; b++) {
      expect(t.pieces[3 + b]).toBe(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
      expect(t.scores[3 + b]).toBe(0);
    }
    expect(t.pieces[259]).toBe(" t");
    expect(t.pieces[260]).toBe("he");
    expect(t.pieces[410]).toBe(" ");
    for (let id = 259; id < 512; id++) expect(t.scores[id]).toBe(-(id - 259));
    expect([...t.vocab[259]!]).toEqual([0x20, 0x74]);
    expect(Math.max(...t.vocab.map((v) => v.length))).toBeLessThanOrEqual(7);
  });

  it("keeps raw bytes and decodes invalid UTF-8 lossily", () => {
    const t = readLlama2cTokenizer(
      build(4, [
        [1.5, [0xe2, 0x82]],
        [-2, "é"],
      ]),
      2,
    );
    expect([...t.vocab[0]!]).toEqual([0xe2, 0x82]);
    expect(t.pieces[0]).toBe("\uFFFD");
    expect(t.pieces[1]).toBe("é");
    expect([...t.scores]).toEqual([1.5, -2]);
  });

  it("rejects a wrong vocab size, truncation and bad lengths with TOKENIZER_INVALID naming the file", () => {
    expect(codeOf(() => readLlama2cTokenizer(tok, 511, "tok512.bin"))).toMatch(
      /^TOKENIZER_INVALID: tok512\.bin: bytes left over/,
    );
    expect(codeOf(() => readLlama2cTokenizer(tok, 513, "tok512.bin"))).toMatch(
      /^TOKENIZER_INVALID: tok512\.bin: token 512/,
    );
    expect(codeOf(() => readLlama2cTokenizer(tok.subarray(0, tok.length - 1), 512, "t.bin"))).toMatch(
      /^TOKENIZER_INVALID: t\.bin: token 511 bytes run past/,
    );
    expect(codeOf(() => readLlama2cTokenizer(tok, 100_000, "t.bin"))).toMatch(/too short for 100000 tokens/);
    expect(codeOf(() => readLlama2cTokenizer(new Uint8Array(2), 1))).toMatch(/^TOKENIZER_INVALID/);
    expect(codeOf(() => readLlama2cTokenizer(build(0, [[0, "a"]]), 1))).toMatch(/max_token_length/);
    expect(codeOf(() => readLlama2cTokenizer(build(2, [[0, "abc"]]), 1))).toMatch(/invalid length/);
    expect(codeOf(() => readLlama2cTokenizer(build(2, [[Number.NaN, "ab"]]), 1))).toMatch(/non-finite score/);
    const neg = build(2, [[0, "ab"]]);
    new DataView(neg.buffer).setInt32(8, -1, true);
    expect(codeOf(() => readLlama2cTokenizer(neg, 1))).toMatch(/invalid length/);
    expect(() => readLlama2cTokenizer(tok, 0)).toThrow(RangeError);
  });
});

describe("readLlama2cTokenizer (fuzz)", () => {
  it("returns a tokenizer or throws TOKENIZER_INVALID for truncated or bit-flipped files", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat({ max: tok.length }),
        (flips, len) => {
          const b = tok.slice(0, len);
          for (const [at, v] of flips) if (b.length > 0) b[at % b.length] = v;
          try {
            const t = readLlama2cTokenizer(b, 512, "f.bin");
            expect(t.pieces.length).toBe(512);
          } catch (e) {
            expect(isPruneError(e, "TOKENIZER_INVALID"), String(e)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
