// Strings taken from files (tensor names, metadata keys, dtype strings, config keys) are untrusted:
// echoed raw into an error message, an ESC/OSC sequence can retitle the terminal, clear the screen
// or recolour it, a bidi override can reorder what the user reads, and a 10 kB name floods the log.
// These helpers make such a string safe to print: control and format characters are escaped and
// the length is bounded.

/** Default number of characters of an untrusted string kept in a message. */
export const UNTRUSTED_MAX_CHARS = 80;

// True for code units that must never reach a terminal raw: C0 controls, DEL, C1 controls (which
// include the 8-bit CSI/OSC introducers), bidi embeddings/overrides/isolates and marks, the line and
// paragraph separators (which JSON and JS treat differently), and the BOM / zero-width no-break space.
function mustEscape(c: number): boolean {
  return (
    c < 0x20 ||
    (c >= 0x7f && c <= 0x9f) ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069) ||
    c === 0x200e ||
    c === 0x200f ||
    c === 0x061c ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0xfeff
  );
}

function hex4(c: number): string {
  return `\\u${c.toString(16).padStart(4, "0")}`;
}

// The escaped first `maxLen` code units of `s` (never splitting a surrogate pair) and how many
// code units were left out.
function escapeBody(s: unknown, maxLen: number, quoted: boolean): { body: string; rest: number } {
  const str = typeof s === "string" ? s : String(s);
  const limit = Number.isSafeInteger(maxLen) && maxLen >= 0 ? maxLen : UNTRUSTED_MAX_CHARS;
  let keep = Math.min(str.length, limit);
  if (keep < str.length && keep > 0) {
    const last = str.charCodeAt(keep - 1);
    if (last >= 0xd800 && last <= 0xdbff) keep--;
  }
  let body = "";
  for (let i = 0; i < keep; i++) {
    const c = str.charCodeAt(i);
    if (quoted && c === 0x22) body += '\\"';
    else if (quoted && c === 0x5c) body += "\\\\";
    else if (mustEscape(c)) body += hex4(c);
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < keep ? str.charCodeAt(i + 1) : -1;
      if (next >= 0xdc00 && next <= 0xdfff) {
        body += str.slice(i, i + 2);
        i++;
      } else body += hex4(c); // lone high surrogate
    } else if (c >= 0xdc00 && c <= 0xdfff)
      body += hex4(c); // lone low surrogate
    else body += str[i]!;
  }
  return { body, rest: str.length - keep };
}

/**
 * Escape an untrusted string for a message without adding quotes (so `"` and `\` stay as they are):
 * every control character (C0, DEL, C1), bidi override/isolate/mark, U+2028/U+2029, U+FEFF and lone
 * surrogate becomes `\uXXXX`, and only the first `maxLen` characters (UTF-16 code units, never
 * splitting a surrogate pair) are kept, followed by `…(+N chars)` for the N left out.
 *
 * @example
 * escapeUntrusted("a\u001b]0;pwned\u0007b"); // 'a\\u001b]0;pwned\\u0007b'
 */
export function escapeUntrusted(s: string, maxLen: number = UNTRUSTED_MAX_CHARS): string {
  const { body, rest } = escapeBody(s, maxLen, false);
  return rest > 0 ? `${body}…(+${rest} chars)` : body;
}

/**
 * Quote an untrusted string (a name read from a file) for an error or log message: a JSON-like
 * double-quoted string in which every control character (C0, DEL, C1, so ESC and the 8-bit CSI/OSC
 * introducers), bidi override (U+202A–U+202E, U+2066–U+2069) and lone surrogate is escaped as
 * `\uXXXX`, bounded to `maxLen` characters with `…(+N chars)` after the closing quote for the rest.
 *
 * @example
 * quoteUntrusted("model.embed_tokens.weight"); // '"model.embed_tokens.weight"'
 * quoteUntrusted("\u001b]0;owned\u0007"); // '"\\u001b]0;owned\\u0007"'
 * quoteUntrusted("x".repeat(10000)).endsWith('"…(+9920 chars)'); // true
 */
export function quoteUntrusted(s: string, maxLen: number = UNTRUSTED_MAX_CHARS): string {
  const { body, rest } = escapeBody(s, maxLen, true);
  return rest > 0 ? `"${body}"…(+${rest} chars)` : `"${body}"`;
}
