// Duplicate keys in JSON text. JSON.parse silently keeps the last of two equal keys, so a header
// `{"w": {"dtype": "F32", "dtype": "F16", ...}}` would load as F16 in one parser and F32 in another.
// This scan finds a key that occurs twice in one object at any depth. Internal.

/** A key that occurs twice in one object, with where it is. */
export interface DuplicateKey {
  /** The decoded key. */
  readonly key: string;
  /** Decoded keys of the enclosing objects from the top level down (array elements add "[]"). */
  readonly path: readonly string[];
  /** UTF-16 offset of the second occurrence in the text. */
  readonly offset: number;
}

interface Frame {
  // undefined for arrays
  readonly keys: Set<string> | undefined;
  // the key whose value is being read (objects), for paths
  key: string;
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * The first key that occurs twice within one object anywhere in `text`, or undefined. `text` must be
 * valid JSON (call after JSON.parse accepted it): the scan relies on well-formed strings and
 * brackets. Keys are compared after decoding escapes (`"a"` and `"\u0061"` are the same key), as
 * every JSON parser does. Iterative (explicit stack), so deep nesting cannot overflow the call stack.
 *
 * @example
 * findDuplicateKey('{"a": {"b": 1, "b": 2}}'); // { key: "b", path: ["a"], offset: 15 }
 */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i++;
      let escaped = false;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) {
          escaped = true;
          i += 2;
        } else if (d === 0x22) break;
        else i++;
      }
      const end = ++i; // just past the closing quote
      const top = stack[stack.length - 1];
      if (top?.keys !== undefined) {
        let j = i;
        while (j < n && isWs(text.charCodeAt(j))) j++;
        if (text.charCodeAt(j) === 0x3a) {
          // A key (a string value is never followed by ':' in valid JSON).
          const key = escaped
            ? (JSON.parse(text.slice(start, end)) as string)
            : text.slice(start + 1, end - 1);
          if (top.keys.has(key)) {
            return { key, path: stack.slice(0, -1).map((f) => f.key), offset: start };
          }
          top.keys.add(key);
          top.key = key;
          i = j + 1;
        }
      }
      continue;
    }
    if (c === 0x7b) stack.push({ keys: new Set(), key: "" });
    else if (c === 0x5b) stack.push({ keys: undefined, key: "[]" });
    else if (c === 0x7d || c === 0x5d) stack.pop();
    i++;
  }
  return undefined;
}
