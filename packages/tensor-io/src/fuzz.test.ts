// Corruption fuzzing of the safetensors reader: every malformed input must end in a PruneError
// (never a TypeError/RangeError/SyntaxError from inside, never a hang), and no read may ask for more
// bytes than the file holds (so nothing is allocated from an untrusted size before validation).

import { createRng, isPruneError, type Rng } from "@mama-prune/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesSource } from "./byte-source.ts";
import { DTYPES } from "./dtype.ts";
import { type ReadIntoByteSource, readSafetensors, safetensorsBytes } from "./safetensors.ts";
import { readSafetensorsStream } from "./safetensors-stream.ts";
import type { ByteSource } from "./types.ts";

interface Outcome {
  readonly ok: boolean;
  readonly error?: unknown;
}

// Opens the file and reads every tensor both ways; records the largest read request.
async function exercise(
  bytes: Uint8Array,
  direct = bytes.byteLength % 2 === 1,
): Promise<Outcome & { maxRead: number }> {
  const inner = bytesSource(bytes, "fuzz.safetensors");
  let maxRead = 0;
  const read = (offset: number, length: number): Promise<Uint8Array> => {
    maxRead = Math.max(maxRead, length);
    if (offset + length > bytes.byteLength) throw new Error(`read past end requested: ${offset}+${length}`);
    return inner.read(offset, length);
  };
  // Half the cases go through a source with readInto, the path Node files take.
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
  try {
    const st = await readSafetensors(src);
    let total = 0;
    for (const t of st.list()) {
      total += t.byteLength;
      const raw = await st.readRaw(t.name);
      const f = await st.readF32(t.name);
      const into = await st.readF32Into(t.name, new Float32Array(f.length));
      if (into.length !== f.length) throw new Error(`readF32Into length mismatch for ${t.name}`);
      if (raw.byteLength !== t.byteLength) throw new Error(`raw length mismatch for ${t.name}`);
      if (f.length * 1 > t.byteLength) throw new Error(`f32 length larger than byte length for ${t.name}`);
    }
    if (total > bytes.byteLength) throw new Error("tensors claim more bytes than the file");
    await st.close();
    return { ok: true, maxRead };
  } catch (error) {
    return { ok: false, error, maxRead };
  }
}

// The same bytes through the one-pass stream reader, delivered in small chunks.
async function exerciseStream(bytes: Uint8Array, withTotal: boolean): Promise<Outcome & { maxRead: number }> {
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.byteLength) c.close();
      else {
        c.enqueue(bytes.slice(at, at + 13));
        at += 13;
      }
    },
  });
  try {
    const st = await readSafetensorsStream(stream, {
      name: "fuzz.safetensors",
      ...(withTotal ? { totalBytes: bytes.byteLength } : {}),
    });
    for await (const t of st.tensors()) {
      if (t.bytes.byteLength !== t.info.byteLength)
        throw new Error(`stream length mismatch for ${t.info.name}`);
      t.f32();
    }
    return { ok: true, maxRead: 0 };
  } catch (error) {
    return { ok: false, error, maxRead: 0 };
  }
}

function expectCleanFailureOrSuccess(o: Outcome & { maxRead: number }, size: number, label: string): void {
  if (!o.ok && !isPruneError(o.error)) {
    throw new Error(`${label}: expected a PruneError, got ${String(o.error)}`, { cause: o.error });
  }
  if (o.maxRead > size) throw new Error(`${label}: read of ${o.maxRead} bytes from a ${size}-byte file`);
}

async function validFile(seed: number): Promise<Uint8Array> {
  const rng = createRng(seed);
  const entries = Array.from({ length: 1 + rng.int(4) }, (_, i) => {
    const dtype = DTYPES[rng.int(DTYPES.length)]!;
    const shape = Array.from({ length: rng.int(3) }, () => rng.int(4));
    const numel = shape.reduce((a, b) => a * b, 1);
    return { name: `layer.${i}.w`, dtype, shape, data: new Float32Array(numel).fill(1) };
  });
  return safetensorsBytes(entries, { metadata: { format: "pt", seed: String(seed) } });
}

function flipBits(bytes: Uint8Array, rng: Rng, count: number, lo: number, hi: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < count; i++) {
    const at = lo + rng.int(Math.max(1, hi - lo));
    out[at] = out[at]! ^ (1 << rng.int(8));
  }
  return out;
}

function withHeader(text: string, dataLen: number): Uint8Array {
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

describe("readSafetensors under corruption", () => {
  it("fails cleanly on every truncation of a valid file", async () => {
    const file = await validFile(1);
    expect((await exercise(file)).ok).toBe(true);
    for (let cut = 0; cut < file.byteLength; cut++) {
      const o = await exercise(file.subarray(0, cut));
      expectCleanFailureOrSuccess(o, cut, `truncated at ${cut}`);
      // Truncation always loses declared data, the header or the length.
      expect(o.ok).toBe(false);
    }
  });

  it("fails cleanly or reads consistently after random bit flips in the length, header and data", async () => {
    const rng = createRng(2024);
    let failures = 0;
    for (let i = 0; i < 1500; i++) {
      const file = await validFile(i % 25);
      const headerEnd = 8 + Number(new DataView(file.buffer).getBigUint64(0, true));
      const region = rng.int(3);
      const [lo, hi] = region === 0 ? [0, 8] : region === 1 ? [8, headerEnd] : [0, file.byteLength];
      const bad = flipBits(file, rng, 1 + rng.int(3), lo, hi);
      const o = await exercise(bad);
      expectCleanFailureOrSuccess(o, bad.byteLength, `flip case ${i}`);
      if (!o.ok) failures++;
      const so = await exerciseStream(bad, i % 2 === 0);
      expectCleanFailureOrSuccess(so, bad.byteLength, `stream flip case ${i}`);
    }
    expect(failures).toBeGreaterThan(500);
  });

  it("fails cleanly on random bytes after a plausible length prefix", async () => {
    const rng = createRng(99);
    for (let i = 0; i < 800; i++) {
      const n = rng.int(200);
      const bytes = new Uint8Array(8 + n + rng.int(64));
      for (let j = 8; j < bytes.length; j++) bytes[j] = rng.int(256);
      if (rng.next() < 0.7) bytes[8] = 0x7b;
      new DataView(bytes.buffer).setBigUint64(0, BigInt(rng.next() < 0.8 ? n : rng.int(2 ** 30)), true);
      const o = await exercise(bytes);
      expectCleanFailureOrSuccess(o, bytes.byteLength, `random case ${i}`);
      expectCleanFailureOrSuccess(
        await exerciseStream(bytes, i % 2 === 1),
        bytes.byteLength,
        `stream random case ${i}`,
      );
    }
  });

  it("fails cleanly on arbitrary JSON headers and on structured near-valid headers (property)", async () => {
    const dim = fc.oneof(
      fc.integer({ min: -2, max: 8 }),
      fc.constantFrom(2 ** 53, 2 ** 31, 1.5, Number.MAX_VALUE),
      fc.string({ maxLength: 2 }),
      fc.constant(null),
    );
    const entry = fc.record(
      {
        dtype: fc.oneof(fc.constantFrom(...DTYPES, "F8_E4M3", "f32", ""), fc.integer()),
        shape: fc.oneof(fc.array(dim, { maxLength: 4 }), fc.jsonValue({ maxDepth: 1 })),
        data_offsets: fc.oneof(
          fc.tuple(fc.integer({ min: -4, max: 80 }), fc.integer({ min: -4, max: 80 })),
          fc.array(dim, { maxLength: 3 }),
        ),
        extra: fc.jsonValue({ maxDepth: 1 }),
      },
      { requiredKeys: [] },
    );
    const header = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"),
      fc
        .dictionary(
          fc.oneof(
            fc.constantFrom("__metadata__", "w", "__proto__", "constructor"),
            fc.string({ maxLength: 4 }),
          ),
          fc.oneof(entry, fc.jsonValue({ maxDepth: 2 })),
          { maxKeys: 5 },
        )
        .map((o) => JSON.stringify(o)),
      fc.string({ maxLength: 40 }).map((s) => `{${s}`),
      fc.constantFrom("[".repeat(20000), '{"a":'.repeat(5000), "{}", '{"__metadata__":null}'),
    );
    const codes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(header, fc.integer({ min: 0, max: 96 }), async (text, dataLen) => {
        const bytes = withHeader(text, dataLen);
        const o = await exercise(bytes);
        expectCleanFailureOrSuccess(o, bytes.byteLength, "json case");
        const key = o.ok ? "ok" : (o.error as { code: string }).code;
        codes.set(key, (codes.get(key) ?? 0) + 1);
      }),
      { seed: 7, numRuns: 1500 },
    );
    // The generator reaches both outcomes and the dtype check, not only the JSON parse.
    expect(codes.get("ok")).toBeGreaterThan(0);
    expect(codes.get("DTYPE_UNSUPPORTED")).toBeGreaterThan(0);
    expect(codes.get("TENSOR_IO_MALFORMED")).toBeGreaterThan(500);
  });
});
