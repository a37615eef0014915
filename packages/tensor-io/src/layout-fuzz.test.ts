// Property-based fuzzing of safetensors header and layout mutations against a reference parser
// written independently here (its own JSON parser that sees duplicate keys, its own dtype table,
// byte-by-byte coverage instead of sorting). For every mutated file, in strict and lenient mode:
// readSafetensors, inspectSafetensors and readSafetensorsStream either produce exactly the tensors
// the reference accepts (same names, dtypes, shapes, offsets and bytes; warnings exactly when the
// reference sees unused bytes or unknown fields), or fail with a PruneError when the reference
// rejects. Never another exception, never a read past the end of the file.
//
// Runs 10,000 cases by default; MAMA_FUZZ_RUNS=200000 (and MAMA_FUZZ_SEED) for a longer run.

import { isPruneError } from "@mama-prune/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesSource } from "./byte-source.ts";
import { inspectSafetensors, type ReadIntoByteSource, readSafetensors } from "./safetensors.ts";
import { readSafetensorsStream } from "./safetensors-stream.ts";
import type { ByteSource } from "./types.ts";

const RUNS = Number(process.env["MAMA_FUZZ_RUNS"] ?? 10_000);
const SEED = Number(process.env["MAMA_FUZZ_SEED"] ?? 20_260_101);

// ---- Reference parser (simple and slow on purpose) ----

const SIZES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

type Val = null | boolean | number | string | { pairs: [string, Val][] } | Val[];

class RefError extends Error {}

// RFC 8259 JSON, keeping object members as pairs; throws RefError on a syntax error or a key that
// occurs twice in one object.
function parseJson(text: string): Val {
  let i = 0;
  const fail = (why: string): never => {
    throw new RefError(`${why} at ${i}`);
  };
  const ws = (): void => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const str = (): string => {
    if (text[i] !== '"') fail("expected string");
    i++;
    let out = "";
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c.charCodeAt(0) < 0x20) fail("control character in string");
      if (c !== "\\") {
        out += c;
        i++;
        continue;
      }
      const e = text[i + 1];
      const simple: Record<string, string> = {
        '"': '"',
        "\\": "\\",
        "/": "/",
        b: "\b",
        f: "\f",
        n: "\n",
        r: "\r",
        t: "\t",
      };
      if (e !== undefined && e in simple) {
        out += simple[e];
        i += 2;
      } else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
        out += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 6), 16));
        i += 6;
      } else fail("bad escape");
    }
  };
  const value = (depth: number): Val => {
    if (depth > 200) fail("too deep for the reference");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const pairs: [string, Val][] = [];
      ws();
      if (text[i] === "}") {
        i++;
        return { pairs };
      }
      for (;;) {
        ws();
        const k = str();
        if (pairs.some(([x]) => x === k)) fail("duplicate key");
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        pairs.push([k, value(depth + 1)]);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return { pairs };
        } else fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const items: Val[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return items;
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return items;
        } else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    for (const [lit, v] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i));
    if (m === null) return fail("bad value");
    i += m[0].length;
    return Number(m[0]);
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail("trailing text");
  return v;
}

interface RefTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}
type RefResult =
  | { ok: true; tensors: RefTensor[]; unused: boolean; unknownFields: number; metadata: [string, string][] }
  | { ok: false; why: string };

const isPlain = (v: Val): v is { pairs: [string, Val][] } =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isIndex = (v: Val): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;

function reference(bytes: Uint8Array, lenient: boolean): RefResult {
  try {
    if (bytes.length < 8) throw new RefError("shorter than 8 bytes");
    let n = 0n;
    for (let k = 7; k >= 0; k--) n = n * 256n + BigInt(bytes[k]!);
    if (n > BigInt(bytes.length - 8) || n > 100n * 1024n * 1024n || n < 2n)
      throw new RefError("header length");
    const hdr = bytes.subarray(8, 8 + Number(n));
    if (hdr[0] !== 0x7b) throw new RefError("no '{'");
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(hdr);
    } catch {
      throw new RefError("utf-8");
    }
    const top = parseJson(text);
    if (!isPlain(top)) throw new RefError("not an object");
    const dataSize = bytes.length - 8 - Number(n);
    const tensors: RefTensor[] = [];
    const metadata: [string, string][] = [];
    let unknownFields = 0;
    for (const [name, v] of top.pairs) {
      if (name === "__metadata__") {
        if (!isPlain(v)) throw new RefError("metadata not an object");
        for (const [k, s] of v.pairs) {
          if (typeof s !== "string") throw new RefError("metadata value");
          metadata.push([k, s]);
        }
        continue;
      }
      if (!isPlain(v)) throw new RefError("entry not an object");
      const field = (k: string): Val | undefined => v.pairs.find(([x]) => x === k)?.[1];
      for (const [k] of v.pairs) {
        if (k !== "dtype" && k !== "shape" && k !== "data_offsets") {
          if (!lenient) throw new RefError("unknown field");
          unknownFields++;
        }
      }
      const dtype = field("dtype");
      const shape = field("shape");
      const offs = field("data_offsets");
      if (typeof dtype !== "string" || !Object.hasOwn(SIZES, dtype)) throw new RefError("dtype");
      if (!Array.isArray(shape) || !shape.every(isIndex)) throw new RefError("shape");
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isIndex)) throw new RefError("offsets");
      const [b, e] = offs as [number, number];
      if (b > e || e > dataSize) throw new RefError("offsets range");
      const numel = (shape as number[]).reduce((a, d) => a * BigInt(d), 1n);
      if (numel * BigInt(SIZES[dtype]!) !== BigInt(e - b)) throw new RefError("size");
      tensors.push({ name, dtype, shape: shape as number[], begin: b, end: e });
    }
    for (const x of tensors) {
      for (const y of tensors) {
        if (x === y) continue;
        const bothData = x.end > x.begin && y.end > y.begin;
        if (bothData && x.begin < y.end && y.begin < x.end) throw new RefError("overlap");
        if (x.begin === x.end && y.begin < x.begin && x.begin < y.end) throw new RefError("empty inside");
      }
    }
    const covered = new Uint8Array(dataSize);
    for (const t of tensors) covered.fill(1, t.begin, t.end);
    const unused = covered.includes(0);
    if (unused && !lenient) throw new RefError("unused bytes");
    return { ok: true, tensors, unused, unknownFields, metadata };
  } catch (e) {
    if (e instanceof RefError) return { ok: false, why: e.message };
    throw e;
  }
}

// ---- File generator: a valid file as header pairs + data, then mutations ----

interface Spec {
  pairs: [string, unknown][]; // header members in order (may repeat keys after mutation)
  data: Uint8Array;
  headerLenDelta: number;
  pad: boolean;
  escapeKeys: boolean;
  spaces: string;
  cut: number; // bytes cut from the end of the file
}

const NAMES = [
  "w",
  "b",
  "__proto__",
  "1",
  "10",
  "a.b",
  "é",
  "🦙",
  "x\u001b]0;t\u0007",
  "constructor",
  "",
  "w\\",
];
const DTYPE_LIST = Object.keys(SIZES);

const PAIRS = Symbol("pairs");

// Serialises a value with object members given as pair lists (so duplicates survive).
function toText(v: unknown, esc: boolean, sp: string): string {
  if (Array.isArray(v)) return `[${v.map((x) => toText(x, esc, sp)).join(",")}]`;
  if (v !== null && typeof v === "object" && (v as { [PAIRS]?: unknown })[PAIRS] !== undefined) {
    const ps = (v as { [PAIRS]: [string, unknown][] })[PAIRS];
    return `{${sp}${ps.map(([k, x]) => `${key(k, esc)}${sp}:${sp}${toText(x, esc, sp)}`).join(`,${sp}`)}${sp}}`;
  }
  return JSON.stringify(v) ?? "null";
}
const obj = (ps: [string, unknown][]): { [PAIRS]: [string, unknown][] } => ({ [PAIRS]: ps });
function key(k: string, esc: boolean): string {
  if (!esc) return JSON.stringify(k);
  let out = '"';
  for (let i = 0; i < k.length; i++) out += `\\u${k.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return `${out}"`;
}

function build(s: Spec): Uint8Array {
  const text = toText(obj(s.pairs), s.escapeKeys, s.spaces);
  let json = new TextEncoder().encode(text);
  if (s.pad && json.length % 8 !== 0) {
    const p = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + s.data.length);
  const len = Math.max(0, json.length + s.headerLenDelta);
  new DataView(out.buffer).setBigUint64(0, BigInt(len), true);
  out.set(json, 8);
  out.set(s.data, 8 + json.length);
  return out.subarray(0, Math.max(0, out.length - s.cut));
}

type Entry = { [PAIRS]: [string, unknown][] };
const entryOf = (v: unknown): Entry | undefined =>
  v !== null && typeof v === "object" && (v as Entry)[PAIRS] !== undefined ? (v as Entry) : undefined;
const field = (e: Entry, k: string): unknown => e[PAIRS].find(([x]) => x === k)?.[1];
const setField = (e: Entry, k: string, v: unknown): void => {
  const p = e[PAIRS].find(([x]) => x === k);
  if (p) p[1] = v;
  else e[PAIRS].push([k, v]);
};

// Tensor entries with offsets relative to the data region, laid out contiguously in a random order.
const baseSpec: fc.Arbitrary<Spec> = fc
  .record({
    tensors: fc.uniqueArray(
      fc.record({
        name: fc.constantFrom(...NAMES),
        dtype: fc.constantFrom(...DTYPE_LIST),
        shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
      }),
      { selector: (t) => t.name, maxLength: 4 },
    ),
    meta: fc.option(
      fc.array(fc.tuple(fc.constantFrom("format", "k", "__proto__", "é"), fc.string({ maxLength: 4 })), {
        maxLength: 3,
      }),
      { nil: undefined },
    ),
    metaFirst: fc.boolean(),
    pad: fc.boolean(),
    escapeKeys: fc.boolean(),
    spaces: fc.constantFrom("", " ", "\n  "),
    fill: fc.integer({ min: 0, max: 255 }),
  })
  .map(({ tensors, meta, metaFirst, pad, escapeKeys, spaces, fill }) => {
    let at = 0;
    const pairs: [string, unknown][] = tensors.map((t) => {
      const n = t.shape.reduce((a, d) => a * d, 1) * SIZES[t.dtype]!;
      const e = obj([
        ["dtype", t.dtype],
        ["shape", t.shape],
        ["data_offsets", [at, at + n]],
      ]);
      at += n;
      return [t.name, e];
    });
    if (meta !== undefined) {
      // Unique metadata keys in the base file (mutations add duplicates).
      const m = obj([...new Map(meta).entries()]);
      if (metaFirst) pairs.unshift(["__metadata__", m]);
      else pairs.push(["__metadata__", m]);
    }
    const data = new Uint8Array(at).fill(fill);
    return { pairs, data, headerLenDelta: 0, pad, escapeKeys, spaces, cut: 0 };
  });

type Mutation = (s: Spec, r: number, r2: number) => void;
const tensorPairs = (s: Spec): [string, unknown][] =>
  s.pairs.filter(([k, v]) => k !== "__metadata__" && entryOf(v));
const pick = <T>(xs: T[], r: number): T | undefined => (xs.length === 0 ? undefined : xs[r % xs.length]);
const offsetsOf = (e: Entry): [number, number] | undefined => {
  const o = field(e, "data_offsets");
  return Array.isArray(o) && o.length === 2 && typeof o[0] === "number" && typeof o[1] === "number"
    ? [o[0], o[1]]
    : undefined;
};

const MUTATIONS: Mutation[] = [
  // Insert unused bytes at a data offset, shifting the tensors at or after it (gap / leading bytes).
  (s, r, r2) => {
    const ts = tensorPairs(s);
    const cuts = [0, s.data.length, ...ts.map(([, v]) => offsetsOf(entryOf(v)!)?.[0] ?? 0)];
    const p = Math.min(pick(cuts, r)!, s.data.length);
    const k = 1 + (r2 % 9);
    for (const [, v] of ts) {
      const o = offsetsOf(entryOf(v)!);
      if (o && o[0] >= p && !(o[0] === o[1] && o[0] === p && r2 % 2 === 0))
        setField(entryOf(v)!, "data_offsets", [o[0] + k, o[1] + k]);
    }
    const d = new Uint8Array(s.data.length + k);
    d.set(s.data.subarray(0, p));
    d.set(s.data.subarray(p), p + k);
    s.data = d;
  },
  // Trailing bytes.
  (s, r) => {
    const d = new Uint8Array(s.data.length + 1 + (r % 16));
    d.set(s.data);
    s.data = d;
  },
  // Move one offset by a small amount (overlap, size mismatch, out of bounds).
  (s, r, r2) => {
    const t = pick(tensorPairs(s), r);
    const o = t && offsetsOf(entryOf(t[1])!);
    if (!t || !o) return;
    const delta = (r2 % 7) - 3 || 1;
    const which = r2 % 2;
    o[which] = Math.max(0, o[which]! + delta);
    setField(entryOf(t[1])!, "data_offsets", o);
  },
  // Two tensors at the same offsets.
  (s, r, r2) => {
    const ts = tensorPairs(s);
    const a = pick(ts, r);
    const b = pick(ts, r2);
    if (!a || !b || a === b) return;
    setField(entryOf(b[1])!, "data_offsets", field(entryOf(a[1])!, "data_offsets"));
  },
  // A field repeated inside one tensor entry (same or different value).
  (s, r, r2) => {
    const t = pick(tensorPairs(s), r);
    if (!t) return;
    const e = entryOf(t[1])!;
    const f = pick(["dtype", "shape", "data_offsets"], r2)!;
    e[PAIRS].splice(r2 % (e[PAIRS].length + 1), 0, [f, r2 % 2 === 0 ? field(e, f) : "U8"]);
  },
  // A tensor name, __metadata__ or a metadata key twice.
  (s, r, r2) => {
    const p = pick(s.pairs, r);
    if (!p) return;
    if (p[0] === "__metadata__" && r2 % 2 === 0 && entryOf(p[1])) {
      const m = entryOf(p[1])!;
      m[PAIRS].push([m[PAIRS][0]?.[0] ?? "k", "v"], ["k", "w"], ["k", "x"]);
    } else s.pairs.splice(r2 % (s.pairs.length + 1), 0, [p[0], p[1]]);
  },
  // An unknown field (with a nested object that may itself repeat a key).
  (s, r, r2) => {
    const t = pick(tensorPairs(s), r);
    if (!t) return;
    const nested =
      r2 % 3 === 0
        ? obj([
            ["a", 1],
            ["a", 2],
          ])
        : r2 % 3 === 1
          ? obj([["a", [1, obj([["b", "c"]])]]])
          : "x";
    entryOf(t[1])![PAIRS].push([pick(["extra", "dtype2", "__proto__", "offsets"], r2)!, nested]);
  },
  // Metadata that is not string → string.
  (s, r) => {
    const bad = [
      obj([["k", 1]]),
      obj([["k", null]]),
      obj([["k", obj([])]]),
      [],
      "s",
      null,
      obj([["k", ["v"]]]),
    ];
    const i = s.pairs.findIndex(([k]) => k === "__metadata__");
    const v = pick(bad, r);
    if (i >= 0) s.pairs[i] = ["__metadata__", v];
    else s.pairs.push(["__metadata__", v]);
  },
  // dtype: another valid one (size mismatch unless same size), or unknown / wrong type.
  (s, r, r2) => {
    const t = pick(tensorPairs(s), r);
    if (!t) return;
    setField(entryOf(t[1])!, "dtype", pick([...DTYPE_LIST, "F8_E4M3", "f32", "", 4, null], r2));
  },
  // shape: change one dim, or a bad shape.
  (s, r, r2) => {
    const t = pick(tensorPairs(s), r);
    if (!t) return;
    const e = entryOf(t[1])!;
    const sh = field(e, "shape");
    const dims = Array.isArray(sh) ? [...(sh as number[])] : [];
    const choices: unknown[] = [
      [...dims, 1],
      dims.slice(1),
      dims.map((d) => d + 1),
      [-1],
      [1.5],
      ["2"],
      null,
      [2 ** 53, 0],
      [2 ** 40, 2 ** 40],
    ];
    setField(e, "shape", pick(choices, r2));
  },
  // data_offsets of the wrong form.
  (s, r, r2) => {
    const t = pick(tensorPairs(s), r);
    if (!t) return;
    setField(
      entryOf(t[1])!,
      "data_offsets",
      pick([[0], [0, 0, 0], [-1, 0], [0.5, 1], ["0", "1"], null, [3, 1], [0, 2 ** 53]], r2),
    );
  },
  // Truncate the file.
  (s, r) => {
    s.cut = 1 + (r % 12);
  },
  // Header length off by a little.
  (s, r) => {
    s.headerLenDelta = (r % 17) - 8 || 1;
  },
  // An empty tensor at any offset.
  (s, r, r2) => {
    s.pairs.splice(r % (s.pairs.length + 1), 0, [
      `e${r2 % 3}`,
      obj([
        ["dtype", "F32"],
        ["shape", [0, r2 % 3]],
        ["data_offsets", [r2 % (s.data.length + 2), r2 % (s.data.length + 2)]],
      ]),
    ]);
  },
  // A non-object entry.
  (s, r, r2) => {
    s.pairs.splice(r % (s.pairs.length + 1), 0, [`n${r2 % 2}`, pick([1, "x", [], null, true], r2)]);
  },
];

const mutated = fc
  .tuple(
    baseSpec,
    fc.array(fc.tuple(fc.integer({ min: 0, max: MUTATIONS.length - 1 }), fc.nat(), fc.nat()), {
      maxLength: 3,
    }),
    fc.boolean(),
    fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 7 },
      { arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), weight: 1 },
    ),
  )
  .map(([spec, muts, lenient, flip]) => {
    for (const [m, r, r2] of muts) MUTATIONS[m]!(spec, r, r2);
    const bytes = build(spec);
    if (flip !== undefined && bytes.length > 8) {
      const at = 8 + (flip[0] % (bytes.length - 8));
      bytes[at] = flip[1];
    }
    return { bytes, lenient, mutations: muts.map(([m]) => m) };
  });

// ---- The property ----

// A source that records reads past the end instead of serving them.
function guardedSource(bytes: Uint8Array, direct: boolean): ByteSource & { pastEnd: boolean } {
  const inner = bytesSource(bytes, "fuzz.safetensors");
  const state = { pastEnd: false };
  const read = (offset: number, length: number): Promise<Uint8Array> => {
    if (offset < 0 || length < 0 || offset + length > bytes.length) {
      state.pastEnd = true;
      return Promise.reject(new Error(`read past the end: ${offset}+${length} of ${bytes.length}`));
    }
    return inner.read(offset, length);
  };
  const src: ByteSource | ReadIntoByteSource = direct
    ? {
        name: inner.name,
        size: inner.size,
        read,
        async readInto(offset: number, target: Uint8Array): Promise<void> {
          target.set(await read(offset, target.byteLength));
        },
      }
    : { name: inner.name, size: inner.size, read };
  return Object.assign(src, {
    get pastEnd(): boolean {
      return state.pastEnd;
    },
  });
}

function stream(bytes: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.length) c.close();
      else {
        c.enqueue(bytes.slice(at, at + chunk));
        at += chunk;
      }
    },
  });
}

const expectPrune = (e: unknown, what: string): void => {
  if (!isPruneError(e)) throw new Error(`${what}: expected a PruneError, got ${String(e)}`, { cause: e });
};

const stats = { ok: 0, rejected: 0, warned: 0 };

async function check(bytes: Uint8Array, lenient: boolean, variant: number): Promise<void> {
  const ref = reference(bytes, lenient);
  const byName = (a: { name: string }, b: { name: string }): number =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  // Random access.
  const src = guardedSource(bytes, variant % 2 === 0);
  let reader: Awaited<ReturnType<typeof readSafetensors>> | undefined;
  try {
    reader = await readSafetensors(src, { lenient });
  } catch (e) {
    expectPrune(e, "readSafetensors");
    if (ref.ok) throw new Error(`readSafetensors rejected a file the reference accepts: ${String(e)}`);
  }
  if (reader !== undefined) {
    if (!ref.ok) throw new Error(`readSafetensors accepted a file the reference rejects (${ref.why})`);
    const got = reader.list().map((t) => {
      const [b, e] = reader!.byteRange(t.name);
      return {
        name: t.name,
        dtype: t.dtype as string,
        shape: [...t.shape],
        begin: b - reader!.dataOffset,
        end: e - reader!.dataOffset,
      };
    });
    expect(got.slice().sort(byName)).toEqual(ref.tensors.slice().sort(byName));
    // Storage order.
    for (let i = 1; i < got.length; i++) expect(got[i]!.begin).toBeGreaterThanOrEqual(got[i - 1]!.begin);
    expect(Object.entries(reader.metadata).sort()).toEqual(ref.metadata.slice().sort());
    const layoutWarnings = reader.warnings.filter((w) => w.kind !== "unknown-field").length;
    expect(layoutWarnings > 0).toBe(ref.unused);
    expect(reader.warnings.length - layoutWarnings).toBe(ref.unknownFields);
    if (!lenient) expect(reader.warnings).toEqual([]);
    if (reader.warnings.length > 0) stats.warned++;
    for (const t of ref.tensors) {
      const raw = await reader.readRaw(t.name);
      const at = reader.dataOffset + t.begin;
      expect(raw).toEqual(bytes.subarray(at, at + t.end - t.begin));
      await reader.readF32(t.name);
    }
    await reader.close();
  }
  if (src.pastEnd) throw new Error("a read went past the end of the file");
  // Inspection agrees with the reader.
  try {
    const info = await inspectSafetensors(bytes, { lenient });
    if (!ref.ok) throw new Error(`inspectSafetensors accepted a file the reference rejects (${ref.why})`);
    expect(info.tensors.map((t) => t.name).sort()).toEqual(ref.tensors.map((t) => t.name).sort());
  } catch (e) {
    if (ref.ok) throw e;
    expectPrune(e, "inspectSafetensors");
  }
  // One-pass stream, with and without the total length.
  const withTotal = variant % 3 !== 0;
  try {
    const st = await readSafetensorsStream(stream(bytes, 1 + (variant % 23)), {
      lenient,
      ...(withTotal ? { totalBytes: bytes.length } : {}),
    });
    const names: string[] = [];
    for await (const t of st.tensors()) {
      names.push(t.info.name);
      expect(t.bytes.byteLength).toBe(t.info.byteLength);
    }
    if (!ref.ok) throw new Error(`readSafetensorsStream accepted a file the reference rejects (${ref.why})`);
    expect(names.sort()).toEqual(ref.tensors.map((t) => t.name).sort());
  } catch (e) {
    if (ref.ok) throw e;
    expectPrune(e, "readSafetensorsStream");
  }
  if (ref.ok) stats.ok++;
  else stats.rejected++;
}

describe("safetensors layout fuzz against a reference parser", () => {
  it("the reference parser accepts written files and rejects what the format forbids", () => {
    const enc = (t: string, data = 0): Uint8Array => {
      const j = new TextEncoder().encode(t);
      const out = new Uint8Array(8 + j.length + data);
      new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
      out.set(j, 8);
      return out;
    };
    const e = '{"dtype":"U8","shape":[2],"data_offsets":[0,2]}';
    expect(reference(enc(`{"w":${e}}`, 2), false).ok).toBe(true);
    expect(reference(enc(`{"w":${e}}`, 3), false).ok).toBe(false);
    expect(reference(enc(`{"w":${e}}`, 3), true)).toMatchObject({ ok: true, unused: true });
    expect(reference(enc(`{"w":${e},"w":${e}}`, 2), true).ok).toBe(false);
    expect(
      reference(enc(`{"w":{"dtype":"U8","dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 2), true).ok,
    ).toBe(false);
    expect(reference(enc(`{"a":${e},"b":${e}}`, 2), true).ok).toBe(false);
  });

  it(`parses mutated files exactly as the reference does, or fails with a PruneError (${RUNS} cases)`, async () => {
    let variant = 0;
    await fc.assert(
      fc.asyncProperty(mutated, async ({ bytes, lenient }) => {
        await check(bytes, lenient, variant++);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    console.log(`layout fuzz: ${JSON.stringify(stats)}`);
    // The generator reaches both outcomes and lenient warnings, not only rejections.
    expect(stats.ok).toBeGreaterThan(RUNS / 10);
    expect(stats.rejected).toBeGreaterThan(RUNS / 4);
    expect(stats.warned).toBeGreaterThan(RUNS / 50);
  }, 600_000);
});
