import { PruneError } from "@mama-prune/core";

/** How an evaluation text is laid out on disk. */
export type EvalTextFormat = "plain" | "wikitext";

/** Options of {@link loadEvalText}. */
export interface LoadEvalTextOptions {
  /**
   * `plain`: the text is used exactly as given. `wikitext`: the text is a raw WikiText file
   * (`wiki.test.raw`) or an array of its Hugging Face dataset rows, rebuilt into the exact string the
   * pruning anchors evaluate: rows joined with "\n\n".
   */
  readonly format: EvalTextFormat;
}

/**
 * Split a raw WikiText file into the rows the Hugging Face `wikitext` loader script yields
 * (`for row in open(file): yield row if row.strip() else ""`): one row per line
 * with its "\n" kept (Python text-mode iteration, so "\r\n" and "\r" read as "\n"), and a
 * whitespace-only line becoming the empty string.
 */
function wikitextRows(raw: string): string[] {
  const normalized = raw.replace(/\r\n?/g, "\n");
  const rows: string[] = [];
  let start = 0;
  while (start < normalized.length) {
    const nl = normalized.indexOf("\n", start);
    const end = nl === -1 ? normalized.length : nl + 1;
    const line = normalized.slice(start, end);
    rows.push(line.trim() === "" ? "" : line);
    start = end;
  }
  return rows;
}

/**
 * Turn an evaluation text into the exact string that is tokenized as one stream by `perplexity`.
 *
 * - `plain`: returned unchanged.
 * - `wikitext`: WikiText-style documents joined with "\n\n", exactly like the anchors'
 *   `"\n\n".join(load_dataset("wikitext", "wikitext-2-raw-v1", split="test")["text"])`. Give either
 *   the raw file's text (it is split into the loader's rows first: one per line, newline kept,
 *   blank lines as "") or the rows themselves as an array.
 *
 * @param text the raw text, or (wikitext only) the dataset rows.
 * @throws PruneError EVAL_INVALID when the text is empty or only whitespace.
 * @throws TypeError when `format` is not "plain" or "wikitext", or an array is given for "plain".
 * @example
 * loadEvalText(" = A = \n \n Body . \n", { format: "wikitext" }); // " = A = \n\n\n\n\n Body . \n"
 */
export function loadEvalText(text: string | readonly string[], options: LoadEvalTextOptions): string {
  const format = (options as { format?: unknown } | undefined)?.format;
  let out: string;
  if (format === "plain") {
    if (typeof text !== "string") {
      throw new TypeError(`loadEvalText: format "plain" takes a string, got ${typeof text}`);
    }
    out = text;
  } else if (format === "wikitext") {
    const rows = typeof text === "string" ? wikitextRows(text) : text;
    for (const [i, row] of rows.entries()) {
      if (typeof row !== "string") throw new TypeError(`loadEvalText: row ${i} is not a string`);
    }
    out = rows.join("\n\n");
  } else {
    throw new TypeError(`loadEvalText: options.format must be "plain" or "wikitext", got ${String(format)}`);
  }
  if (out.trim().length === 0) {
    throw new PruneError(
      "EVAL_INVALID",
      `loadEvalText: evaluation text is ${out.length === 0 ? "empty" : "only whitespace"}. Expected some text, got ${out.length} characters.`,
    );
  }
  return out;
}

/** Options of {@link decodeTextBytes}. */
export interface DecodeTextBytesOptions {
  /** Error code of a refusal. Default `EVAL_INVALID` (use `CALIBRATION_INVALID` for calibration text). */
  readonly code?: "EVAL_INVALID" | "CALIBRATION_INVALID";
  /** What the text is for, in messages ("evaluation", "calibration"). Default "evaluation". */
  readonly role?: string;
}

// Control characters a text file may hold: tab, line feed, form feed (a page break in plain texts,
// whitespace to every tokenizer) and carriage return. Every other C0 byte, and DEL, means binary data.
const ALLOWED_CONTROLS = new Set([0x09, 0x0a, 0x0c, 0x0d]);

const CONTROL_NAMES: Readonly<Record<number, string>> = { 0: "NUL", 27: "ESC", 127: "DEL" };

function hexByte(b: number): string {
  return `0x${b.toString(16).padStart(2, "0")}`;
}

/**
 * The byte offset of the first byte that makes `bytes` invalid UTF-8 (an unexpected continuation
 * byte, a truncated sequence, an overlong encoding, a surrogate or a code point above U+10FFFF), or
 * -1 when the whole input is valid. Checks exactly what a fatal `TextDecoder("utf-8")` rejects.
 */
function firstInvalidUtf8(bytes: Uint8Array, from: number): number {
  let i = from;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // no overlongs
      if (b === 0xed) hi = 0x9f; // no surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90; // no overlongs
      if (b === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else return i; // a continuation byte, C0/C1 (overlong 2-byte) or F5..FF
    for (let k = 1; k <= need; k++) {
      const c = i + k < n ? bytes[i + k]! : -1;
      const okLo = k === 1 ? lo : 0x80;
      const okHi = k === 1 ? hi : 0xbf;
      if (c < okLo || c > okHi) return i;
    }
    i += need + 1;
  }
  return -1;
}

/**
 * Decode the bytes of a text file strictly: UTF-8 only (a fatal decoder, so nothing is replaced by
 * U+FFFD), no NUL or other C0 control byte except tab, line feed, form feed and carriage return, no
 * DEL; a leading UTF-8 byte order mark is stripped. A random binary file therefore fails at its
 * first bad byte instead of being tokenized into nonsense (and scored).
 *
 * Web-standard (Uint8Array, TextDecoder): the same check in Node, browsers and Deno.
 *
 * @param bytes the file's bytes.
 * @param name the file's name or path, for messages.
 * @throws PruneError `options.code` (default EVAL_INVALID) naming the file, the byte offset of the
 *   first bad byte (counted from the start of the file, BOM included) and the byte itself.
 * @example
 * decodeTextBytes(new TextEncoder().encode("\uFEFFOnce upon a time"), "a.txt"); // "Once upon a time"
 * decodeTextBytes(new Uint8Array([0x61, 0x00]), "b.bin"); // throws "b.bin: … byte offset 1 is 0x00 (NUL) …"
 */
export function decodeTextBytes(
  bytes: Uint8Array,
  name: string,
  options: DecodeTextBytesOptions = {},
): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError("decodeTextBytes: bytes must be a Uint8Array");
  const code = options.code ?? "EVAL_INVALID";
  const role = options.role ?? "evaluation";
  const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const fail = (offset: number, what: string): never => {
    throw new PruneError(
      code,
      `${name}: not a UTF-8 text file (the ${role} text): byte offset ${offset} is ${what}. Expected UTF-8 text with no control characters other than tab, newline, form feed and carriage return, got binary data.`,
    );
  };
  for (let i = start; i < bytes.length; i++) {
    const b = bytes[i]!;
    if ((b < 0x20 && !ALLOWED_CONTROLS.has(b)) || b === 0x7f) {
      // Report whichever comes first: this control byte or an earlier invalid UTF-8 sequence.
      const bad = firstInvalidUtf8(bytes.subarray(0, i), start);
      if (bad >= 0) fail(bad, `${hexByte(bytes[bad]!)}, which starts an invalid UTF-8 sequence`);
      fail(i, `${hexByte(b)} (${CONTROL_NAMES[b] ?? "a control character"})`);
    }
  }
  const bad = firstInvalidUtf8(bytes, start);
  if (bad >= 0) fail(bad, `${hexByte(bytes[bad]!)}, which starts an invalid UTF-8 sequence`);
  return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(start));
}
