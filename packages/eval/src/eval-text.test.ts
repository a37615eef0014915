import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { loadEvalText } from "./eval-text.ts";

describe("loadEvalText", () => {
  it("returns plain text unchanged", () => {
    const text = "Spot saw the car.\r\n\nIt was red. ";
    expect(loadEvalText(text, { format: "plain" })).toBe(text);
  });

  it("rebuilds WikiText rows from a raw file: one row per line with its newline, blank lines empty, joined with a blank line", () => {
    const raw = " \n = Robert Boulter = \n \n Robert Boulter is an actor . \n";
    // Hugging Face rows of this file: ["", " = Robert Boulter = \n", "", " Robert Boulter is an actor . \n"].
    const expected = ["", " = Robert Boulter = \n", "", " Robert Boulter is an actor . \n"].join("\n\n");
    expect(loadEvalText(raw, { format: "wikitext" })).toBe(expected);
    expect(expected).toBe("\n\n = Robert Boulter = \n\n\n\n\n Robert Boulter is an actor . \n");
  });

  it("reads CRLF and a missing final newline the way Python text mode does", () => {
    expect(loadEvalText("a\r\nb\rc", { format: "wikitext" })).toBe("a\n\n\nb\n\n\nc");
  });

  it("joins given WikiText rows with a blank line", () => {
    expect(loadEvalText(["doc one", "doc two"], { format: "wikitext" })).toBe("doc one\n\ndoc two");
  });

  it("rejects empty and whitespace-only text with EVAL_INVALID", () => {
    for (const [text, format] of [
      ["", "plain"],
      ["  \n\t", "plain"],
      [" \n \n", "wikitext"],
    ] as const) {
      let caught: unknown;
      try {
        loadEvalText(text, { format });
      } catch (e) {
        caught = e;
      }
      expect(isPruneError(caught, "EVAL_INVALID")).toBe(true);
      expect((caught as Error).message).toMatch(
        /^loadEvalText: evaluation text is (empty|only whitespace)\./,
      );
    }
  });

  it("rejects an unknown format and an array for plain text with TypeError", () => {
    expect(() => loadEvalText("x", { format: "csv" as "plain" })).toThrow(TypeError);
    expect(() => loadEvalText(["x"], { format: "plain" })).toThrow(TypeError);
  });
});
