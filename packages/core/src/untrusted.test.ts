import { describe, expect, it } from "vitest";
import { escapeUntrusted, PruneError, quoteUntrusted, truncateForMessage } from "./index.ts";

// Every code unit that a terminal could act on: C0, DEL, C1, bidi overrides and isolates.
const DANGEROUS: number[] = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i),
  0x202a,
  0x202b,
  0x202c,
  0x202d,
  0x202e,
  0x2066,
  0x2067,
  0x2068,
  0x2069,
];

// Independent check: no code unit of `out` is dangerous, and every escape decodes back.
function hasRawControl(out: string): boolean {
  for (let i = 0; i < out.length; i++) if (DANGEROUS.includes(out.charCodeAt(i))) return true;
  return false;
}

describe("quoteUntrusted", () => {
  it("neutralises an OSC title sequence, a screen clear and colour codes", () => {
    const hostile = "w\u001b]0;pwned\u0007\u001b[2J\u001b[31mred\u009b1m\u202eevil";
    const q = quoteUntrusted(hostile);
    expect(q).toBe('"w\\u001b]0;pwned\\u0007\\u001b[2J\\u001b[31mred\\u009b1m\\u202eevil"');
    expect(hasRawControl(q)).toBe(false);
    // The quoted text is valid JSON that decodes back to the original.
    expect(JSON.parse(q)).toBe(hostile);
    // And it survives inside a PruneError message.
    const e = new PruneError("TENSOR_IO_MALFORMED", `f.safetensors: tensor ${q}: bad`);
    expect(hasRawControl(e.message)).toBe(false);
  });

  it("escapes every dangerous code unit as \\uXXXX and leaves ordinary text alone", () => {
    for (const c of DANGEROUS) {
      const q = quoteUntrusted(`a${String.fromCharCode(c)}b`);
      expect(q).toBe(`"a\\u${c.toString(16).padStart(4, "0")}b"`);
      expect(JSON.parse(q)).toBe(`a${String.fromCharCode(c)}b`);
    }
    expect(quoteUntrusted("model.layers.0.mlp.up_proj.weight")).toBe('"model.layers.0.mlp.up_proj.weight"');
    expect(quoteUntrusted('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(JSON.parse(quoteUntrusted('a"b\\c'))).toBe('a"b\\c');
    expect(quoteUntrusted("Grüße 🦙 名前")).toBe('"Grüße 🦙 名前"');
    expect(quoteUntrusted("")).toBe('""');
  });

  it("escapes lone surrogates and never splits a pair when truncating", () => {
    expect(quoteUntrusted("a\ud800b")).toBe('"a\\ud800b"');
    expect(quoteUntrusted("a\udc00")).toBe('"a\\udc00"');
    // Cutting at 2 would split the llama emoji (2 code units at index 1..2): keep 1, report 2 left.
    expect(quoteUntrusted("x🦙y", 2)).toBe('"x"…(+3 chars)');
    expect(quoteUntrusted("x🦙y", 3)).toBe('"x🦙"…(+1 chars)');
  });

  it("bounds a 10 kB name and says how much was left out", () => {
    const name = "\u001b".repeat(10_000);
    const q = quoteUntrusted(name);
    expect(q).toBe(`"${"\\u001b".repeat(80)}"…(+9920 chars)`);
    expect(q.length).toBeLessThan(6 * 80 + 20);
    expect(hasRawControl(q)).toBe(false);
    const plain = quoteUntrusted("n".repeat(10_000), 10);
    expect(plain).toBe('"nnnnnnnnnn"…(+9990 chars)');
    expect(quoteUntrusted("abc", 3)).toBe('"abc"');
    expect(quoteUntrusted("abcd", 0)).toBe('""…(+4 chars)');
  });

  it("random strings never leave a raw control character and decode back when short", () => {
    let seed = 12345;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    for (let t = 0; t < 2000; t++) {
      const len = next() % 40;
      let s = "";
      for (let i = 0; i < len; i++) {
        const r = next() % 4;
        s += String.fromCharCode(
          r === 0 ? next() % 0x100 : r === 1 ? 0x2000 + (next() % 0x80) : next() % 0x10000,
        );
      }
      const q = quoteUntrusted(s);
      expect(hasRawControl(q)).toBe(false);
      // Lone surrogates are escaped, so JSON.parse gives back the exact code units.
      expect(JSON.parse(q)).toBe(s);
    }
  });
});

describe("escapeUntrusted / truncateForMessage", () => {
  it("escape without quotes; truncateForMessage escapes strings and JSON values", () => {
    expect(escapeUntrusted("a\u001b[31mb")).toBe("a\\u001b[31mb");
    expect(truncateForMessage("t\u001b]0;x\u0007")).toBe("t\\u001b]0;x\\u0007");
    expect(truncateForMessage({ k: "\u009d" })).toBe('{"k":"\\u009d"}');
    expect(truncateForMessage("y".repeat(100))).toBe(`${"y".repeat(80)}…(+20 chars)`);
    expect(truncateForMessage([1, 2])).toBe("[1,2]");
  });
});
