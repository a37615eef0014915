// ---- The last line of defence between strings taken from files and the terminal ----
//
// Names read from files (tensor names, config keys, tokenizer fields, plugin names, recipe keys)
// are quoted where they are printed (`quoteUntrusted`), but one forgotten spot would let a crafted
// file retitle the terminal, clear it or recolour it. `safeIo` therefore escapes every control
// character that main()'s own output never contains, on both streams, and bounds human lines.

import { escapeUntrusted } from "@mama-prune/core";
import type { CliIo } from "./io.ts";

/** Longest line written to stderr (messages and progress); longer ones end in `…(+N chars)`. */
export const MAX_STDERR_LINE = 1000;

// C0 controls but tab, newline and CR; DEL; C1 controls; bidi embeddings/overrides/isolates and
// marks; line/paragraph separators. ESC is allowed only as the progress bar's own "erase line"
// (ESC [ 2 K), which stderr uses when it is a terminal.
function unsafe(c: number): boolean {
  return (
    (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) ||
    (c >= 0x7f && c <= 0x9f) ||
    c === 0x061c ||
    c === 0x200e ||
    c === 0x200f ||
    c === 0x2028 ||
    c === 0x2029 ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069)
  );
}

const ERASE_LINE = "\u001b[2K";

/**
 * Escape every character of `text` that could drive a terminal (see {@link safeIo}) as `\uXXXX`.
 *
 * @example
 * escapeTerminal("a\u001b]0;owned\u0007b\n"); // "a\\u001b]0;owned\\u0007b\n"
 */
export function escapeTerminal(text: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!unsafe(c) || (c === 0x1b && text.startsWith(ERASE_LINE, i))) continue;
    out += `${text.slice(from, i)}\\u${c.toString(16).padStart(4, "0")}`;
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

function boundLines(text: string, max: number): string {
  if (text.length <= max) return text;
  return text
    .split("\n")
    .map((line) => (line.length > max ? escapeUntrusted(line, max) : line))
    .join("\n");
}

/**
 * `io` with both streams filtered through {@link escapeTerminal}; stderr lines are also bounded to
 * {@link MAX_STDERR_LINE} characters. Stdout lines are not cut (JSON must stay parseable), but JSON
 * escapes control characters itself and human stdout quotes every name taken from a file.
 *
 * @example
 * const io = safeIo({ stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), cwd: "." });
 */
export function safeIo(io: CliIo): CliIo {
  return {
    ...io,
    stdout: (text) => io.stdout(escapeTerminal(text)),
    stderr: (text) => io.stderr(boundLines(escapeTerminal(text), MAX_STDERR_LINE)),
  };
}
