import { createRng, isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { decodeTextBytes } from "./eval-text.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function errorOf(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (isPruneError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("expected a PruneError");
}

describe("decodeTextBytes", () => {
  it("decodes UTF-8 text with tabs, newlines, form feeds and CRs unchanged and strips one leading BOM", () => {
    const s = "Once\tupon\r\na time\f— «ünïcødé» 🐉\n";
    expect(decodeTextBytes(enc(s), "a.txt")).toBe(s);
    expect(decodeTextBytes(enc(`\uFEFF${s}`), "a.txt")).toBe(s);
    // Only the leading BOM is a BOM; a second one is content (U+FEFF).
    expect(decodeTextBytes(enc("\uFEFF\uFEFFx"), "a.txt")).toBe("\uFEFFx");
  });

  it("names the file and the offset of a NUL, ESC or DEL byte, with the requested code", () => {
    const e = errorOf(() =>
      decodeTextBytes(enc("abc\u0000def"), "data/x.bin", {
        code: "CALIBRATION_INVALID",
        role: "calibration",
      }),
    );
    expect(e.code).toBe("CALIBRATION_INVALID");
    expect(e.message).toMatch(
      /^data\/x\.bin: not a UTF-8 text file \(the calibration text\): byte offset 3 is 0x00 \(NUL\)/,
    );
    expect(errorOf(() => decodeTextBytes(enc("ab\u001b[31m"), "t")).message).toContain(
      "byte offset 2 is 0x1b (ESC)",
    );
    expect(errorOf(() => decodeTextBytes(enc("\u007f"), "t")).message).toContain(
      "byte offset 0 is 0x7f (DEL)",
    );
    expect(errorOf(() => decodeTextBytes(enc("\u000b"), "t")).code).toBe("EVAL_INVALID");
    // Offsets count from the start of the file, BOM included.
    expect(errorOf(() => decodeTextBytes(enc("\uFEFFa\u0001"), "t")).message).toContain(
      "byte offset 4 is 0x01",
    );
  });

  it("names the first byte of an invalid UTF-8 sequence (lone continuation, truncated, overlong, surrogate, > U+10FFFF)", () => {
    const cases: [number[], number][] = [
      [[0x61, 0x80], 1],
      [[0x61, 0x62, 0xe2, 0x82], 2],
      [[0xc0, 0xaf], 0],
      [[0xe0, 0x80, 0xaf], 0],
      [[0x41, 0xed, 0xa0, 0x80], 1],
      [[0xf4, 0x90, 0x80, 0x80], 0],
      [[0xff], 0],
      [[0x61, 0xc3, 0x00], 1], // a NUL inside a truncated sequence: the sequence comes first
    ];
    for (const [bytes, offset] of cases) {
      expect(errorOf(() => decodeTextBytes(new Uint8Array(bytes), "t")).message).toContain(
        `byte offset ${offset} is`,
      );
    }
  });

  it("agrees with a fatal TextDecoder (the reference) on 3,000 random byte strings, and never returns U+FFFD it did not read", () => {
    const rng = createRng(11);
    const ref = new TextDecoder("utf-8", { fatal: true }); // strips a leading BOM, as decodeTextBytes does
    const alphabet = [
      0xbb, 0x41, 0x0a, 0x80, 0xbf, 0xc2, 0xc3, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xa0, 0x9f,
      0x90, 0x8f,
    ];
    let valid = 0;
    for (let t = 0; t < 3000; t++) {
      const n = rng.int(9);
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = alphabet[rng.int(alphabet.length)]!;
      let expected: string | undefined;
      try {
        expected = ref.decode(bytes);
      } catch {
        expected = undefined;
      }
      if (expected === undefined) {
        expect(() => decodeTextBytes(bytes, "t")).toThrow(
          /byte offset \d+ is 0x[0-9a-f]{2}, which starts an invalid UTF-8 sequence/,
        );
      } else {
        valid++;
        expect(decodeTextBytes(bytes, "t")).toBe(expected);
      }
    }
    expect(valid).toBeGreaterThan(100);
  });

  it("refuses random binary data (what a model file looks like) at an early offset", () => {
    const rng = createRng(5);
    const bytes = new Uint8Array(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
    const e = errorOf(() => decodeTextBytes(bytes, "model.bin"));
    const offset = Number(/byte offset (\d+)/.exec(e.message)![1]);
    expect(offset).toBeLessThan(64);
    // Everything before the reported offset is valid, clean text.
    expect(() => decodeTextBytes(bytes.subarray(0, offset), "prefix")).not.toThrow();
  });
});
