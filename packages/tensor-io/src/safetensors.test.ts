import { createMemoryLogger, createRng, isPruneError, type PruneErrorCode } from "@mama-prune/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesSource } from "./byte-source.ts";
import { DTYPES, dtypeByteSize, f32ToBytes } from "./dtype.ts";
import {
  type ReadIntoByteSource,
  readSafetensors,
  type SafetensorsEntry,
  safetensorsBytes,
  safetensorsLayout,
  writeSafetensors,
} from "./safetensors.ts";
import { type ByteSink, collectSink } from "./sink.ts";
import type { ByteSource, DType } from "./types.ts";

// A file assembled by hand, independent of the writer: 8-byte LE length, header text, data.
function rawFile(header: unknown, data: Uint8Array | number = 0, pad = true): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  let json = new TextEncoder().encode(text);
  if (pad && json.length % 8 !== 0) {
    const p = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    p.set(json);
    json = p;
  }
  const body = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

async function failure(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    return e;
  }
  throw new Error("expected a failure");
}

async function expectPrune(p: Promise<unknown>, code: PruneErrorCode, ...parts: string[]): Promise<void> {
  const e = await failure(p);
  if (!isPruneError(e, code)) throw new Error(`expected PruneError ${code}, got ${String(e)}`);
  for (const part of parts) expect(e.message).toContain(part);
}

// Records every read, to prove laziness.
function spySource(bytes: Uint8Array, name = "spy.safetensors"): ByteSource & { reads: [number, number][] } {
  const inner = bytesSource(bytes, name);
  const reads: [number, number][] = [];
  return {
    name,
    size: inner.size,
    reads,
    read(offset: number, length: number): Promise<Uint8Array> {
      reads.push([offset, length]);
      return inner.read(offset, length);
    },
  };
}

describe("readSafetensors", () => {
  it("reads a hand-built file: header, metadata, storage order and values", async () => {
    const data = new Uint8Array(8 + 4);
    new DataView(data.buffer).setFloat32(0, 1.5, true);
    new DataView(data.buffer).setFloat32(4, -2, true);
    data.set([0x80, 0x3f, 0x00, 0xc0], 8); // BF16 1, -2
    const file = rawFile(
      {
        // JSON key order differs from storage order; "10" would even sort first as an integer key.
        "10": { dtype: "BF16", shape: [2], data_offsets: [8, 12] },
        "a.weight": { dtype: "F32", shape: [1, 2], data_offsets: [0, 8] },
        __metadata__: { format: "pt", note: "ünïcode" },
      },
      data,
    );
    const st = await readSafetensors(file, { name: "hand.safetensors" });
    expect(st.source).toBe("hand.safetensors");
    expect(st.list()).toEqual([
      { name: "a.weight", dtype: "F32", shape: [1, 2], byteLength: 8 },
      { name: "10", dtype: "BF16", shape: [2], byteLength: 4 },
    ]);
    expect(st.metadata).toEqual({ format: "pt", note: "ünïcode" });
    expect(Array.from(await st.readF32("a.weight"))).toEqual([1.5, -2]);
    expect(Array.from(await st.readF32("10"))).toEqual([1, -2]);
    expect(Array.from(await st.readRaw("10"))).toEqual([0x80, 0x3f, 0x00, 0xc0]);
    expect(st.has("10")).toBe(true);
    expect(st.has("__metadata__")).toBe(false);
    expect(st.byteRange("10")).toEqual([st.dataOffset + 8, st.dataOffset + 12]);
    expect(st.diagnostics).toEqual([]);
  });

  it("reads only the length and header at open, then exactly one tensor's range per read", async () => {
    const bytes = await safetensorsBytes([
      { name: "a", dtype: "F32", shape: [100], data: new Float32Array(100) },
      { name: "b", dtype: "F16", shape: [3, 5], data: new Float32Array(15).fill(2) },
    ]);
    const src = spySource(bytes);
    const st = await readSafetensors(src);
    expect(src.reads).toEqual([
      [0, 8],
      [8, st.dataOffset - 8],
    ]);
    src.reads.length = 0;
    expect(Array.from(await st.readF32("b"))).toEqual(new Array(15).fill(2));
    expect(src.reads).toEqual([[st.dataOffset + 400, 30]]);
  });

  it("accepts a Blob and reads scalar and empty tensors", async () => {
    const bytes = await safetensorsBytes([
      { name: "scalar", dtype: "F64", shape: [], data: new Float32Array([3]) },
      { name: "empty", dtype: "I32", shape: [0, 4], data: new Uint8Array(0) },
    ]);
    const st = await readSafetensors(new Blob([bytes as Uint8Array<ArrayBuffer>]), {
      name: "blob.safetensors",
    });
    expect(st.info("scalar")).toEqual({ name: "scalar", dtype: "F64", shape: [], byteLength: 8 });
    expect(Array.from(await st.readF32("scalar"))).toEqual([3]);
    expect((await st.readF32("empty")).length).toBe(0);
    await st.close();
    await st.close();
    await expectPrune(st.readRaw("scalar"), "TENSOR_IO_MALFORMED", "after close");
  });

  it("names the file and tensor when a tensor is missing", async () => {
    const st = await readSafetensors(rawFile({ w: { dtype: "U8", shape: [1], data_offsets: [0, 1] } }, 1), {
      name: "m.safetensors",
    });
    const e = await failure(() => st.info("model.norm.weight"));
    expect(isPruneError(e, "TENSOR_IO_NOT_FOUND")).toBe(true);
    expect((e as Error).message).toMatchInlineSnapshot(
      `"m.safetensors: tensor model.norm.weight not found. Expected one of 1 tensors (w), got model.norm.weight."`,
    );
    await expectPrune(st.readF32("nope"), "TENSOR_IO_NOT_FOUND", "m.safetensors", "nope");
  });

  const U = { dtype: "U8", shape: [4], data_offsets: [0, 4] };
  const bad: [string, unknown, number, PruneErrorCode, ...string[]][] = [
    ["a JSON array header", "[1,2]", 0, "TENSOR_IO_MALFORMED", "does not start with '{'"],
    ["invalid JSON", '{"w": {', 0, "TENSOR_IO_MALFORMED", "not valid JSON"],
    ["a non-object entry", { w: 5 }, 0, "TENSOR_IO_MALFORMED", 'tensor "w": entry is not an object'],
    [
      "a non-string dtype",
      { w: { ...U, dtype: 1 } },
      4,
      "TENSOR_IO_MALFORMED",
      'tensor "w": dtype is not a string',
    ],
    [
      "an unknown dtype",
      { w: { ...U, dtype: "Q4" } },
      4,
      "DTYPE_UNSUPPORTED",
      'tensor "w": dtype "Q4" is unknown',
    ],
    [
      "an F8 dtype",
      { w: { ...U, dtype: "F8_E4M3" } },
      4,
      "DTYPE_UNSUPPORTED",
      "not supported by this reader",
    ],
    ["a negative dim", { w: { ...U, shape: [-4] } }, 4, "TENSOR_IO_MALFORMED", 'tensor "w": shape'],
    ["a fractional dim", { w: { ...U, shape: [2.5] } }, 4, "TENSOR_IO_MALFORMED", 'tensor "w": shape'],
    ["a string dim", { w: { ...U, shape: ["4"] } }, 4, "TENSOR_IO_MALFORMED", 'tensor "w": shape'],
    ["a huge shape", { w: { ...U, shape: [2 ** 40, 2 ** 40] } }, 4, "TENSOR_IO_MALFORMED", "too large"],
    ["three offsets", { w: { ...U, data_offsets: [0, 2, 4] } }, 4, "TENSOR_IO_MALFORMED", "data_offsets"],
    [
      "reversed offsets",
      { w: { ...U, data_offsets: [4, 0] } },
      4,
      "TENSOR_IO_MALFORMED",
      "end precedes begin",
    ],
    ["offsets past the end", { w: { ...U, data_offsets: [0, 4] } }, 3, "TENSOR_IO_MALFORMED", "past the end"],
    ["a size mismatch", { w: { ...U, shape: [5] } }, 8, "TENSOR_IO_MALFORMED", "Expected 5 bytes"],
    [
      "overlapping tensors",
      { a: U, b: { ...U, data_offsets: [2, 6] }, c: { dtype: "U8", shape: [2], data_offsets: [6, 8] } },
      8,
      "TENSOR_IO_MALFORMED",
      'tensor "b" (data_offsets [2, 6], file bytes [',
      'data overlaps tensor "a" (data_offsets [0, 4])',
    ],
    [
      "non-string metadata",
      { __metadata__: { a: 1 } },
      0,
      "TENSOR_IO_MALFORMED",
      '__metadata__ value of "a"',
    ],
    ["array metadata", { __metadata__: [] }, 0, "TENSOR_IO_MALFORMED", "__metadata__ is not an object"],
  ];
  it.each(bad)(
    "rejects %s with a typed error naming the file",
    async (_label, header, dataLen, code, ...parts) => {
      await expectPrune(
        readSafetensors(rawFile(header, dataLen), { name: "bad.safetensors" }),
        code,
        "bad.safetensors",
        ...parts,
      );
    },
  );

  it("rejects a header length larger than the file or the cap, and files under 8 bytes", async () => {
    const f = rawFile({ w: U }, 4);
    const lying = f.slice();
    new DataView(lying.buffer).setBigUint64(0, 2n ** 63n, true);
    await expectPrune(
      readSafetensors(lying, { name: "x" }),
      "TENSOR_IO_MALFORMED",
      "x: header length exceeds the file size",
    );
    await expectPrune(
      readSafetensors(f, { name: "x", maxHeaderBytes: 16 }),
      "TENSOR_IO_MALFORMED",
      "header is too large",
    );
    await expectPrune(readSafetensors(new Uint8Array(7), { name: "x" }), "TENSOR_IO_MALFORMED", "too small");
    const invalidUtf8 = rawFile('{"w":1}');
    invalidUtf8[10] = 0xff;
    await expectPrune(readSafetensors(invalidUtf8), "TENSOR_IO_MALFORMED", "not valid UTF-8");
  });

  it("rejects unused bytes before, between and after tensors by default; lenient reports them", async () => {
    const ab = (a: [number, number], b: [number, number]) => ({
      a: { dtype: "U8", shape: [a[1] - a[0]], data_offsets: a },
      b: { dtype: "U8", shape: [b[1] - b[0]], data_offsets: b },
    });
    const hdr = (f: Uint8Array) => 8 + Number(new DataView(f.buffer).getBigUint64(0, true));
    // A gap and trailing bytes.
    const f = rawFile(ab([0, 2], [4, 6]), 8);
    const d = hdr(f);
    await expectPrune(
      readSafetensors(f, { name: "g" }),
      "TENSOR_IO_MALFORMED",
      `g: tensor "b" (data_offsets [4, 6], file bytes [${d + 4}, ${d + 6})): gap after tensor "a". Expected the tensor to begin where the previous one ends (data offset 2)`,
      `got 2 unused bytes at file bytes [${d + 2}, ${d + 4})`,
    );
    const log = createMemoryLogger();
    const st = await readSafetensors(f, { name: "g", logger: log, lenient: true });
    expect(st.warnings).toEqual([
      {
        kind: "gap",
        message: `g: tensor "b" (data_offsets [4, 6], file bytes [${d + 4}, ${d + 6})): gap after tensor "a": 2 unused bytes at file bytes [${d + 2}, ${d + 4})`,
        tensor: "b",
        bytes: [d + 2, d + 4],
      },
      {
        kind: "trailing-bytes",
        message: `g: tensor "b" (data_offsets [4, 6], file bytes [${d + 4}, ${d + 6})): trailing bytes after the last tensor: 2 unused bytes at file bytes [${d + 6}, ${d + 8})`,
        tensor: "b",
        bytes: [d + 6, d + 8],
      },
    ]);
    expect(st.diagnostics).toEqual(st.warnings.map((w) => w.message));
    expect(log.records.map((r) => [r.level, r.message])).toEqual(st.warnings.map((w) => ["warn", w.message]));
    expect(Array.from(await st.readRaw("b"))).toEqual([0, 0]);
    // The deprecated strict: false still means lenient.
    expect((await readSafetensors(f, { strict: false })).warnings).toHaveLength(2);
    // Only trailing bytes.
    const t = rawFile(ab([0, 2], [2, 4]), 5);
    await expectPrune(
      readSafetensors(t, { name: "t" }),
      "TENSOR_IO_MALFORMED",
      "trailing bytes after the last tensor",
    );
    // Leading bytes: the first tensor does not start at data offset 0.
    const l = rawFile(ab([1, 2], [2, 4]), 4);
    await expectPrune(
      readSafetensors(l, { name: "l" }),
      "TENSOR_IO_MALFORMED",
      'l: tensor "a" (data_offsets [1, 2]',
      "the data region does not start with the first tensor. Expected the first tensor at data offset 0",
    );
    expect((await readSafetensors(l, { lenient: true })).warnings.map((w) => w.kind)).toEqual([
      "leading-bytes",
    ]);
    // No tensors but data bytes.
    const e = rawFile({ __metadata__: { a: "b" } }, 3);
    await expectPrune(
      readSafetensors(e, { name: "e" }),
      "TENSOR_IO_MALFORMED",
      "e: data bytes but no tensors",
    );
    // Contiguous files with empty tensors anywhere in the order are fine in strict mode.
    const ok = rawFile(
      {
        z0: { dtype: "F32", shape: [0], data_offsets: [0, 0] },
        a: { dtype: "U8", shape: [2], data_offsets: [0, 2] },
        z1: { dtype: "I64", shape: [3, 0], data_offsets: [2, 2] },
        b: { dtype: "U8", shape: [1], data_offsets: [2, 3] },
        z2: { dtype: "U8", shape: [0], data_offsets: [3, 3] },
      },
      3,
    );
    const okr = await readSafetensors(ok);
    expect(okr.list().map((x) => x.name)).toEqual(["z0", "a", "z1", "b", "z2"]);
    expect(okr.warnings).toEqual([]);
    // An empty tensor inside another one, or past the end, is an error in both modes.
    for (const lenient of [false, true]) {
      const inside = rawFile(
        {
          a: { dtype: "U8", shape: [2], data_offsets: [0, 2] },
          z: { dtype: "U8", shape: [0], data_offsets: [1, 1] },
        },
        2,
      );
      await expectPrune(
        readSafetensors(inside, { name: "i", lenient }),
        "TENSOR_IO_MALFORMED",
        'i: tensor "z" (data_offsets [1, 1]',
        'data sits inside tensor "a"',
      );
      const past = rawFile({ z: { dtype: "U8", shape: [0], data_offsets: [3, 3] } }, 2);
      await expectPrune(readSafetensors(past, { lenient }), "TENSOR_IO_MALFORMED", "past the end");
      const over = rawFile(ab([0, 2], [1, 3]), 3);
      await expectPrune(
        readSafetensors(over, { lenient }),
        "TENSOR_IO_MALFORMED",
        'data overlaps tensor "a"',
      );
    }
  });

  it("rejects unknown entry fields by default; lenient warns", async () => {
    const f = rawFile({ w: { dtype: "U8", shape: [1], data_offsets: [0, 1], extra: 1 } }, 1);
    await expectPrune(
      readSafetensors(f, { name: "u" }),
      "TENSOR_IO_MALFORMED",
      'u: tensor "w": unknown field "extra"',
    );
    const st = await readSafetensors(f, { name: "u", lenient: true });
    expect(st.warnings).toEqual([
      { kind: "unknown-field", message: 'u: tensor "w": unknown field "extra" ignored', tensor: "w" },
    ]);
  });

  it("rejects a key that appears twice at any level of the header, even when lenient", async () => {
    const entry = '{"dtype":"U8","shape":[1],"data_offsets":[0,1]}';
    const file = rawFile(`{"w\\u0061": ${entry}, "x": {"a": {"wa": 1}}, "wa" : ${entry}}`, 1);
    await expectPrune(
      readSafetensors(file, { name: "d", lenient: true }),
      "TENSOR_IO_MALFORMED",
      'd: tensor "wa" appears twice in the header (second at file byte ',
    );
    const cases: [string, string][] = [
      [
        `{"w": {"dtype":"U8","shape":[1],"data_offsets":[0,1],"dtype":"U8"}}`,
        'tensor "w": field "dtype" appears twice',
      ],
      [
        `{"w": {"dtype":"U8","shape":[1],"data_offsets":[0,1],"data_offsets":[0,1]}}`,
        'tensor "w": field "data_offsets" appears twice',
      ],
      [`{"__metadata__": {"k": "a", "\\u006b": "b"}, "w": ${entry}}`, '__metadata__ key "k" appears twice'],
      [`{"__metadata__": {}, "w": ${entry}, "__metadata__": {}}`, "__metadata__ appears twice"],
      [
        `{"w": {"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":[{"a":1,"a":2}]}}`,
        'key "a" inside "w.x.[]"',
      ],
    ];
    for (const [text, part] of cases) {
      for (const lenient of [false, true]) {
        await expectPrune(
          readSafetensors(rawFile(text, 1), { name: "d", lenient }),
          "TENSOR_IO_MALFORMED",
          part,
        );
      }
    }
    // The same key in different objects is not a duplicate.
    const nested = rawFile(`{"w": ${entry}, "__metadata__": {"w": "x", "k": "w"}}`, 1);
    expect((await readSafetensors(nested)).list().map((t) => t.name)).toEqual(["w"]);
  });

  it("keeps a tensor or metadata key named __proto__ as a plain key", async () => {
    const bytes = await safetensorsBytes(
      [{ name: "__proto__", dtype: "U8", shape: [1], data: new Uint8Array([7]) }],
      { metadata: JSON.parse('{"__proto__":"x"}') as Record<string, string> },
    );
    const st = await readSafetensors(bytes);
    expect(st.list().map((t) => t.name)).toEqual(["__proto__"]);
    expect(Object.keys(st.metadata)).toEqual(["__proto__"]);
    expect(Array.from(await st.readRaw("__proto__"))).toEqual([7]);
  });

  it("rejects a source that is not bytes, a Blob or a ByteSource with a TypeError", async () => {
    for (const bad of [null, undefined, 42, "x.safetensors", {}, new ArrayBuffer(8)]) {
      await expect(readSafetensors(bad as unknown as Uint8Array)).rejects.toThrow(TypeError);
    }
  });

  it("wraps a source that fails while reading the header", async () => {
    const broken: ByteSource = {
      name: "broken.safetensors",
      size: 100,
      read: () => Promise.reject(new Error("EIO")),
    };
    await expectPrune(
      readSafetensors(broken),
      "TENSOR_IO_MALFORMED",
      "broken.safetensors: reading the header length failed (Error: EIO)",
    );
  });

  it("wraps a source that fails mid-read in a PruneError naming the tensor", async () => {
    const bytes = await safetensorsBytes([
      { name: "w", dtype: "F32", shape: [2], data: new Float32Array(2) },
    ]);
    const inner = bytesSource(bytes, "flaky.safetensors");
    let n = 0;
    const flaky: ByteSource = {
      name: inner.name,
      size: inner.size,
      read: (o, l) => (++n > 2 ? Promise.reject(new Error("EIO")) : inner.read(o, l)),
    };
    const st = await readSafetensors(flaky);
    await expectPrune(st.readF32("w"), "TENSOR_IO_MALFORMED", 'flaky.safetensors: tensor "w"', "EIO");
  });
});

describe("writeSafetensors", () => {
  it("wraps a failing custom sink in TENSOR_IO_WRITE_FAILED and aborts it", async () => {
    let aborted = false;
    const sink: ByteSink = {
      write: () => Promise.reject(new Error("ENOSPC")),
      close: () => Promise.resolve(),
      abort: () => {
        aborted = true;
        return Promise.resolve();
      },
    };
    await expectPrune(writeSafetensors(sink, []), "TENSOR_IO_WRITE_FAILED", "ENOSPC");
    expect(aborted).toBe(true);
  });

  it("writes the exact bytes of the format: LE length, space-padded JSON, contiguous data", async () => {
    const bytes = await safetensorsBytes(
      [
        { name: "w", dtype: "F32", shape: [2], data: new Float32Array([1, 2]) },
        { name: "b", dtype: "U8", shape: [1], data: new Uint8Array([9]) },
      ],
      { metadata: { format: "pt" } },
    );
    const json =
      '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}}';
    const padded = Math.ceil(json.length / 8) * 8;
    expect(new DataView(bytes.buffer).getBigUint64(0, true)).toBe(BigInt(padded));
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + padded))).toBe(json.padEnd(padded, " "));
    expect(Array.from(bytes.subarray(8 + padded))).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 9]);
    expect(safetensorsLayout([{ name: "w", dtype: "F32", shape: [2] }]).totalBytes).toBe(
      8 + Math.ceil('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'.length / 8) * 8 + 8,
    );
  });

  it("pulls lazy data one tensor at a time, after the header is written", async () => {
    const events: string[] = [];
    const sink: ByteSink = {
      write: (c) => {
        events.push(`write ${c.byteLength}`);
        return Promise.resolve();
      },
      close: () => {
        events.push("close");
        return Promise.resolve();
      },
      abort: () => {
        events.push("abort");
        return Promise.resolve();
      },
    };
    const lazy = (name: string, n: number) => async () => {
      events.push(`pull ${name}`);
      return new Float32Array(n);
    };
    const total = await writeSafetensors(sink, [
      { name: "a", dtype: "F32", shape: [3], data: lazy("a", 3) },
      { name: "b", dtype: "BF16", shape: [2], data: lazy("b", 2) },
    ]);
    expect(events.slice(1)).toEqual(["pull a", "write 12", "pull b", "write 4", "close"]);
    expect(events[0]).toMatch(/^write \d+$/);
    expect(total).toBe(Number(events[0]!.slice(6)) + 16);
  });

  it("aborts the sink and rethrows when data does not match the shape", async () => {
    const sink = collectSink();
    await expectPrune(
      writeSafetensors(sink, [
        { name: "ok", dtype: "F32", shape: [1], data: new Float32Array(1) },
        { name: "w", dtype: "F32", shape: [2, 2], data: () => new Float32Array(3) },
      ]),
      "SHAPE_MISMATCH",
      "tensor w",
      "Expected 4 values, got 3",
    );
    await expectPrune(
      writeSafetensors(collectSink(), [{ name: "r", dtype: "F16", shape: [2], data: new Uint8Array(3) }]),
      "SHAPE_MISMATCH",
      "Expected 4 bytes, got 3",
    );
    expect(() => sink.bytes()).toThrow(/aborted/);
  });

  it("aborts when a lazy loader throws or the signal fires, and refuses bad entries up front", async () => {
    const sink = collectSink();
    const boom = new Error("loader failed");
    expect(
      await failure(
        writeSafetensors(sink, [
          {
            name: "w",
            dtype: "F32",
            shape: [1],
            data: () => {
              throw boom;
            },
          },
        ]),
      ),
    ).toBe(boom);
    expect(() => sink.bytes()).toThrow(/aborted/);
    const ac = new AbortController();
    ac.abort();
    await expectPrune(writeSafetensors(collectSink(), [], { signal: ac.signal }), "ABORTED");
    const e1 = { name: "w", dtype: "F32", shape: [1], data: new Float32Array(1) } as const;
    expect(await failure(writeSafetensors(collectSink(), [e1, e1]))).toBeInstanceOf(RangeError);
    expect(await failure(writeSafetensors(collectSink(), [{ ...e1, name: "__metadata__" }]))).toBeInstanceOf(
      RangeError,
    );
    expect(await failure(writeSafetensors(collectSink(), [{ ...e1, shape: [-1] }]))).toBeInstanceOf(
      RangeError,
    );
    await expectPrune(
      writeSafetensors(collectSink(), [{ ...e1, dtype: "F8" as DType }]),
      "DTYPE_UNSUPPORTED",
    );
    await expectPrune(
      writeSafetensors(collectSink(), [
        { name: "i", dtype: "I8", shape: [1], data: new Float32Array([300]) },
      ]),
      "DTYPE_OUT_OF_RANGE",
      "tensor i",
    );
  });
});

describe("writeSafetensors with arbitrary bad input", () => {
  it("answers junk entries and metadata with a typed error and an aborted sink, or a readable file", async () => {
    const junk = fc.oneof(
      fc.anything(),
      fc.constantFrom(new Float32Array(2), new Uint8Array(3), () => new Float32Array(1)),
    );
    const entryArb = fc.record(
      {
        name: fc.oneof(fc.string({ maxLength: 4 }), junk),
        dtype: fc.oneof(fc.constantFrom(...DTYPES), junk),
        shape: fc.oneof(fc.array(fc.integer({ min: -1, max: 3 }), { maxLength: 2 }), junk),
        data: junk,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.array(fc.oneof(entryArb, fc.anything()), { maxLength: 3 }), fc.anything()),
        fc.oneof(fc.constant(undefined), fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.anything()))),
        async (entries, metadata) => {
          const sink = collectSink();
          let aborted = false;
          const spy: ByteSink = {
            write: (c) => sink.write(c),
            close: () => sink.close(),
            abort: (r) => {
              aborted = true;
              return sink.abort(r);
            },
          };
          try {
            await writeSafetensors(spy, entries as SafetensorsEntry[], {
              metadata: metadata as Record<string, string>,
            });
          } catch (e) {
            if (!(e instanceof TypeError || e instanceof RangeError || isPruneError(e))) throw e;
            expect(aborted).toBe(true);
            return;
          }
          // Accepted: the file must read back with the same names.
          const st = await readSafetensors(sink.bytes(), { strict: true });
          expect(st.list().map((t) => t.name)).toEqual((entries as SafetensorsEntry[]).map((e) => e.name));
        },
      ),
      { seed: 5, numRuns: 500 },
    );
  });
});

// ---- Round trips ----

function sampleValues(dtype: DType, n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(n); // (n,)
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (dtype === "BOOL") out[i] = r < 0.5 ? 0 : 1;
    else if (dtype.startsWith("U")) out[i] = Math.floor(r * (dtype === "U8" ? 256 : 60000));
    else if (dtype.startsWith("I")) out[i] = Math.floor(r * 200) - 100;
    else out[i] = (r - 0.5) * 8;
  }
  return out;
}

describe("round trip", () => {
  it.each(DTYPES)(
    "writes and reads %s with the rounding of f32ToBytes and identical bytes",
    async (dtype) => {
      const values = sampleValues(dtype, 37, 1);
      const bytes = await safetensorsBytes([{ name: `t.${dtype}`, dtype, shape: [37], data: values }]);
      const st = await readSafetensors(bytes);
      const raw = await st.readRaw(`t.${dtype}`);
      expect(Array.from(raw)).toEqual(Array.from(f32ToBytes(values, dtype)));
      const back = await st.readF32(`t.${dtype}`);
      const tol = dtype === "F16" ? 2 ** -8 : dtype === "BF16" ? 2 ** -5 : 0;
      for (let i = 0; i < 37; i++) expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(tol);
    },
  );

  it("gives identical bytes and values when reading and writing in small chunks", async () => {
    const entries: SafetensorsEntry[] = DTYPES.map((dtype, i) => ({
      name: `t${i}`,
      dtype,
      shape: [5, 7],
      data: sampleValues(dtype, 35, i),
    }));
    const whole = await safetensorsBytes(entries);
    const sink = collectSink();
    const chunkedWrites: number[] = [];
    const spy: ByteSink = {
      write: (c) => {
        chunkedWrites.push(c.byteLength);
        return sink.write(c);
      },
      close: () => sink.close(),
      abort: (r) => sink.abort(r),
    };
    await writeSafetensors(spy, entries, { chunkBytes: 16 });
    expect(Array.from(sink.bytes())).toEqual(Array.from(whole));
    expect(Math.max(...chunkedWrites.slice(1))).toBe(35 * 8); // F64 from Float32 → 16-byte chunks; F32/raw unchunked
    expect(chunkedWrites).toContain(16);
    const a = await readSafetensors(whole);
    const b = await readSafetensors(whole, { chunkBytes: 8 });
    for (const t of a.list()) {
      expect([t.name, Array.from(await b.readF32(t.name))]).toEqual([
        t.name,
        Array.from(await a.readF32(t.name)),
      ]);
    }
    expect(await failure(readSafetensors(whole, { chunkBytes: 12 }))).toBeInstanceOf(RangeError);
    // Chunked decoding never asks the source for more than one chunk at a time.
    const spied = spySource(whole);
    const c = await readSafetensors(spied, { chunkBytes: 16 });
    spied.reads.length = 0;
    await c.readF32("t0"); // F64 (5, 7): 280 bytes → 18 reads of at most 16 bytes
    expect(spied.reads.length).toBe(18);
    expect(Math.max(...spied.reads.map((r) => r[1]))).toBe(16);
  });

  it("fills caller buffers with readRawInto/readF32Into, with and without a readInto source", async () => {
    const entries: SafetensorsEntry[] = DTYPES.map((dtype, i) => ({
      name: `t${i}`,
      dtype,
      shape: [3, 11],
      data: sampleValues(dtype, 33, 10 + i),
    }));
    const bytes = await safetensorsBytes(entries);
    const plain = bytesSource(bytes, "plain");
    let directReads = 0;
    const withInto: ReadIntoByteSource = {
      name: "into",
      size: plain.size,
      read: (o, l) => plain.read(o, l),
      async readInto(o, t) {
        directReads++;
        t.set(await plain.read(o, t.byteLength));
      },
    };
    const ref = await readSafetensors(bytes);
    for (const chunkBytes of [8, 24, 1 << 20]) {
      for (const src of [plain, withInto]) {
        const st = await readSafetensors(src, { chunkBytes });
        for (const t of st.list()) {
          const expected = Array.from(await ref.readF32(t.name));
          const target = new Float32Array(t.byteLength / dtypeByteSize(t.dtype));
          expect([src.name, chunkBytes, t.dtype, Array.from(await st.readF32Into(t.name, target))]).toEqual([
            src.name,
            chunkBytes,
            t.dtype,
            expected,
          ]);
          expect(Array.from(await st.readF32(t.name))).toEqual(expected);
          const raw = new Uint8Array(t.byteLength);
          expect(Array.from(await st.readRawInto(t.name, raw))).toEqual(
            Array.from(await ref.readRaw(t.name)),
          );
        }
      }
    }
    expect(directReads).toBeGreaterThan(0);
    // Concurrent reads through a readInto source (reader-owned scratch buffer) stay independent.
    const conc = await readSafetensors(withInto, { chunkBytes: 16 });
    const all = await Promise.all(conc.list().map((t) => conc.readF32(t.name)));
    for (const [i, t] of conc.list().entries()) {
      expect([t.name, Array.from(all[i]!)]).toEqual([t.name, Array.from(await ref.readF32(t.name))]);
    }
    await expect(ref.readF32Into("t0", new Float32Array(2))).rejects.toThrow(RangeError);
    await expect(ref.readRawInto("t0", new Uint8Array(2))).rejects.toThrow(RangeError);
    await expectPrune(ref.readF32Into("nope", new Float32Array(2)), "TENSOR_IO_NOT_FOUND");
  });

  it("preserves names, shapes, dtypes, metadata, bytes and values for arbitrary files (property)", async () => {
    const entryArb = fc.record({
      name: fc.string({ minLength: 0, maxLength: 12, unit: "grapheme" }),
      dtype: fc.constantFrom(...DTYPES),
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
      seed: fc.integer({ min: 0, max: 1000 }),
      raw: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        fc
          .uniqueArray(entryArb, { maxLength: 6, selector: (e) => e.name })
          .map((es) => es.filter((e) => e.name !== "__metadata__")),
        fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
        async (specs, metadata) => {
          const entries: SafetensorsEntry[] = specs.map((s) => {
            const numel = s.shape.reduce((a, b) => a * b, 1);
            const values = sampleValues(s.dtype, numel, s.seed);
            return {
              name: s.name,
              dtype: s.dtype,
              shape: s.shape,
              data: s.raw ? f32ToBytes(values, s.dtype) : () => Promise.resolve(values),
            };
          });
          const bytes = await safetensorsBytes(entries, { metadata });
          const st = await readSafetensors(bytes, { strict: true });
          expect(st.list().map((t) => [t.name, t.dtype, t.shape])).toEqual(
            specs.map((s) => [s.name, s.dtype, s.shape]),
          );
          expect(st.metadata).toEqual(Object.keys(metadata).length > 0 ? metadata : {});
          for (const s of specs) {
            const numel = s.shape.reduce((a, b) => a * b, 1);
            const values = sampleValues(s.dtype, numel, s.seed);
            const expected = f32ToBytes(values, s.dtype);
            expect(Array.from(await st.readRaw(s.name))).toEqual(Array.from(expected));
            expect((await st.readF32(s.name)).length).toBe(numel);
            expect(st.info(s.name).byteLength).toBe(numel * dtypeByteSize(s.dtype));
          }
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });
});
