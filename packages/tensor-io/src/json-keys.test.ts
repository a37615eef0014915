import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findDuplicateKey } from "./json-keys.ts";

// A JSON tree whose objects are lists of pairs, so duplicates can be written and known in advance.
type Node = null | number | boolean | string | { obj: [string, Node][] } | { arr: Node[] };

// Key spellings: the same decoded key written in different ways, and strings full of JSON syntax.
const KEYS = ["a", "b", "dtype", "", "{", '"', "\\", ":", "é", "🦙", "a\u0000", "[]"];

function spell(key: string, mode: number): string {
  if (mode === 0) return JSON.stringify(key);
  // Every code unit as \uXXXX: decodes to the same key.
  let out = '"';
  for (let i = 0; i < key.length; i++) out += `\\u${key.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return `${out}"`;
}

function render(n: Node, rnd: () => number): string {
  const ws = (): string => [" ", "", "\n", "\t", "\r\n "][Math.floor(rnd() * 5)]!;
  if (n === null || typeof n !== "object") return JSON.stringify(n);
  if ("arr" in n) return `[${ws()}${n.arr.map((x) => render(x, rnd)).join(`${ws()},${ws()}`)}${ws()}]`;
  return `{${ws()}${n.obj.map(([k, v]) => `${spell(k, rnd() < 0.3 ? 1 : 0)}${ws()}:${ws()}${render(v, rnd)}`).join(`,${ws()}`)}${ws()}}`;
}

// Reference: does any object in the tree hold a key twice?
function hasDuplicate(n: Node): boolean {
  if (n === null || typeof n !== "object") return false;
  if ("arr" in n) return n.arr.some(hasDuplicate);
  const keys = n.obj.map(([k]) => k);
  return new Set(keys).size !== keys.length || n.obj.some(([, v]) => hasDuplicate(v));
}

const leaf: fc.Arbitrary<Node> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  // String values that look like keys, braces and escapes: must never be taken for keys.
  fc.constantFrom('"a": 1', "{", "}", "[", "\\", '\\"', "a", ":"),
  fc.string({ maxLength: 6 }),
);
const tree = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.record({ obj: fc.array(fc.tuple(fc.constantFrom(...KEYS), tie("node")), { maxLength: 4 }) }),
    fc.record({ arr: fc.array(tie("node"), { maxLength: 3 }) }),
  ),
})).node;

describe("findDuplicateKey", () => {
  it("finds duplicates at every depth, with the path and the offset of the second key", () => {
    expect(findDuplicateKey('{"a": {"b": 1, "b": 2}}')).toEqual({ key: "b", path: ["a"], offset: 15 });
    expect(findDuplicateKey('{"a": 1, "a": 2}')).toEqual({ key: "a", path: [], offset: 9 });
    expect(findDuplicateKey('{"x": [{"k": 1}, {"k": 2, "k": 3}]}')?.path).toEqual(["x", "[]"]);
    expect(findDuplicateKey('{"w\\u0061": 1, "wa": 2}')?.key).toBe("wa");
    expect(findDuplicateKey('{"a\\"b": 1, "a\\u0022b": 2}')?.key).toBe('a"b');
  });

  it("does not confuse values, nested objects or escaped quotes with keys", () => {
    expect(findDuplicateKey('{"a": "a", "b": {"a": 1}, "c": ["a", "a"]}')).toBeUndefined();
    expect(findDuplicateKey('{"a": "x\\": 1, \\"a", "b": "{\\"a\\": 1, \\"a\\": 2}"}')).toBeUndefined();
    expect(findDuplicateKey('{"a\\\\": 1, "a": 2}')).toBeUndefined();
    expect(findDuplicateKey("[]")).toBeUndefined();
    expect(findDuplicateKey('{"a":{"b":{"c":1}},"b":{"a":{"c":1}}}')).toBeUndefined();
  });

  it("handles deep nesting without recursion", () => {
    const deep = `${'{"a":'.repeat(20_000)}1${"}".repeat(20_000)}`;
    expect(findDuplicateKey(deep)).toBeUndefined();
    const deepDup = `${'{"a":'.repeat(5_000)}{"z":1,"z":2}${"}".repeat(5_000)}`;
    const d = findDuplicateKey(deepDup);
    expect(d?.key).toBe("z");
    expect(d?.path.length).toBe(5_000);
  });

  it("agrees with a tree-based reference on random JSON (property)", () => {
    let found = 0;
    fc.assert(
      fc.property(tree, fc.integer(), (n, seed) => {
        let s = seed >>> 0;
        const rnd = (): number => {
          s = (s * 1103515245 + 12345) >>> 0;
          return s / 2 ** 32;
        };
        const text = render(n, rnd);
        JSON.parse(text); // the rendering is valid JSON
        const dup = findDuplicateKey(text);
        expect(dup !== undefined).toBe(hasDuplicate(n));
        if (dup !== undefined) {
          found++;
          // The reported offset points at a spelling of the reported key.
          let end = dup.offset + 1;
          while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
          expect(JSON.parse(text.slice(dup.offset, end + 1))).toBe(dup.key);
        }
      }),
      { seed: 11, numRuns: 3000 },
    );
    expect(found).toBeGreaterThan(100);
  });
});
