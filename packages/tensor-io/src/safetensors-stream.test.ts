import { createRng, isPruneError, type PruneErrorCode } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { DTYPES } from "./dtype.ts";
import { readSafetensors, type SafetensorsEntry, safetensorsBytes } from "./safetensors.ts";
import { readSafetensorsStream } from "./safetensors-stream.ts";

// A stream delivering `bytes` in pieces of random size (seeded), recording cancellation.
function chunked(
  bytes: Uint8Array,
  seed: number,
  maxChunk = 50,
): ReadableStream<Uint8Array> & { cancelled: boolean } {
  const rng = createRng(seed);
  let at = 0;
  const state = { cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.byteLength) {
        controller.close();
        return;
      }
      const k = 1 + rng.int(maxChunk);
      controller.enqueue(bytes.slice(at, at + k));
      at += k;
    },
    cancel() {
      state.cancelled = true;
    },
  });
  // defineProperty, not Object.assign: assign would copy the getter's current value once.
  return Object.defineProperty(stream, "cancelled", {
    get: () => state.cancelled,
  }) as ReadableStream<Uint8Array> & {
    cancelled: boolean;
  };
}

function rawFile(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a failure");
}

async function drainAll(
  bytes: Uint8Array | ReadableStream<Uint8Array>,
  totalBytes?: number,
): Promise<string[]> {
  const stream = bytes instanceof Uint8Array ? chunked(bytes, bytes.length) : bytes;
  const st = await readSafetensorsStream(stream, {
    name: "s.safetensors",
    ...(totalBytes !== undefined ? { totalBytes } : {}),
  });
  const names: string[] = [];
  for await (const t of st.tensors()) {
    t.f32();
    names.push(t.info.name);
  }
  return names;
}

async function expectPrune(p: Promise<unknown>, code: PruneErrorCode, ...parts: string[]): Promise<void> {
  const e = await failure(p);
  if (!isPruneError(e, code)) throw new Error(`expected PruneError ${code}, got ${String(e)}`);
  for (const part of parts) expect(e.message).toContain(part);
}

describe("readSafetensorsStream", () => {
  const entries: SafetensorsEntry[] = DTYPES.map((dtype, i) => ({
    name: `layer.${i}`,
    dtype,
    shape: [2, 3 + i],
    data: new Float32Array(2 * (3 + i)).fill(dtype === "BOOL" ? 1 : i),
  }));

  it("yields every tensor in storage order with the bytes and values of the random-access reader", async () => {
    const bytes = await safetensorsBytes(entries, { metadata: { format: "pt" } });
    const ref = await readSafetensors(bytes);
    for (const [seed, total] of [
      [1, undefined],
      [2, bytes.byteLength],
    ] as const) {
      const st = await readSafetensorsStream(chunked(bytes, seed, 7), {
        name: "s",
        ...(total !== undefined ? { totalBytes: total } : {}),
      });
      expect(st.metadata).toEqual({ format: "pt" });
      expect(st.list()).toEqual(ref.list());
      const seen: string[] = [];
      for await (const t of st.tensors()) {
        seen.push(t.info.name);
        expect(Array.from(t.bytes)).toEqual(Array.from(await ref.readRaw(t.info.name)));
        expect(Array.from(t.f32())).toEqual(Array.from(await ref.readF32(t.info.name)));
      }
      expect(seen).toEqual(ref.list().map((t) => t.name));
      expect(() => st.tensors()).toThrow(TypeError);
    }
  });

  it("skips gaps and reports them", async () => {
    const file = rawFile(
      {
        b: { dtype: "U8", shape: [2], data_offsets: [4, 6] },
        a: { dtype: "U8", shape: [1], data_offsets: [0, 1] },
      },
      Uint8Array.from([7, 0, 0, 0, 8, 9]),
    );
    await expectPrune(
      readSafetensorsStream(chunked(file, 3), { name: "g" }),
      "TENSOR_IO_MALFORMED",
      'g: tensor "b" (data_offsets [4, 6], file bytes [',
      'gap after tensor "a"',
    );
    const st = await readSafetensorsStream(chunked(file, 3, 3), { name: "g", lenient: true });
    expect(st.warnings.map((w) => [w.kind, w.tensor])).toEqual([["gap", "b"]]);
    expect(st.diagnostics).toEqual([
      expect.stringContaining('gap after tensor "a": 3 unused bytes at file bytes ['),
    ]);
    const got: [string, number[]][] = [];
    for await (const t of st.tensors()) got.push([t.info.name, Array.from(t.bytes)]);
    expect(got).toEqual([
      ["a", [7]],
      ["b", [8, 9]],
    ]);
  });

  it("strict without totalBytes: a byte after the last tensor fails the iteration; lenient ignores it", async () => {
    const bytes = await safetensorsBytes(entries.slice(0, 2));
    const longer = new Uint8Array(bytes.byteLength + 1);
    longer.set(bytes);
    await expectPrune(
      drainAll(longer),
      "TENSOR_IO_MALFORMED",
      'trailing bytes after the last tensor "layer.1"',
    );
    const st = await readSafetensorsStream(chunked(longer, 7), { lenient: true });
    let n = 0;
    for await (const _ of st.tensors()) n++;
    expect(n).toBe(2);
    await drainAll(bytes); // the exact file passes
  });

  it("fails cleanly at every truncation, naming what was cut", async () => {
    const bytes = await safetensorsBytes(entries.slice(0, 3));
    for (let cut = 0; cut < bytes.byteLength; cut++) {
      const e = await failure(drainAll(bytes.subarray(0, cut)));
      if (!isPruneError(e, "TENSOR_IO_MALFORMED")) throw new Error(`cut ${cut}: ${String(e)}`);
      expect(e.message).toMatch(/^s\.safetensors: /);
    }
    await expectPrune(
      drainAll(bytes.subarray(0, bytes.byteLength - 1)),
      "TENSOR_IO_MALFORMED",
      'stream ended inside tensor "layer.2"',
    );
  });

  it("never allocates what a lying header claims: a 4 TiB tensor in a tiny stream fails as truncated", async () => {
    const file = rawFile(
      { huge: { dtype: "F32", shape: [2 ** 40], data_offsets: [0, 2 ** 42] } },
      new Uint8Array(16),
    );
    await expectPrune(
      drainAll(file),
      "TENSOR_IO_MALFORMED",
      'stream ended inside tensor "huge". Expected 4398046511104 more bytes, got 16.',
    );
    await expectPrune(
      drainAll(file, file.byteLength),
      "TENSOR_IO_MALFORMED",
      "past the end of the data region",
    );
  });

  it("checks the declared total length, without hanging on an endless stream", async () => {
    const bytes = await safetensorsBytes(entries.slice(0, 2));
    // Strict: 5 declared bytes no tensor covers are refused up front.
    await expectPrune(
      drainAll(bytes, bytes.byteLength + 5),
      "TENSOR_IO_MALFORMED",
      "trailing bytes after the last tensor",
    );
    const lenient = await readSafetensorsStream(chunked(bytes, 9), {
      totalBytes: bytes.byteLength + 5,
      lenient: true,
    });
    const it = lenient.tensors();
    await expectPrune(
      (async () => {
        for await (const _ of it);
      })(),
      "TENSOR_IO_MALFORMED",
      "does not match totalBytes",
    );
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice());
      },
      pull(c) {
        c.enqueue(new Uint8Array(64));
      },
      cancel() {
        cancelled = true;
      },
    });
    await expectPrune(
      drainAll(endless, bytes.byteLength),
      "TENSOR_IO_MALFORMED",
      "does not match totalBytes",
    );
    expect(cancelled).toBe(true);
  });

  it("cancels the stream when iteration stops early or the header is bad", async () => {
    const bytes = await safetensorsBytes(entries);
    const s1 = chunked(bytes, 9);
    const st = await readSafetensorsStream(s1);
    for await (const t of st.tensors()) {
      expect(t.info.name).toBe("layer.0");
      break;
    }
    expect(s1.cancelled).toBe(true);
    const bad = bytes.slice();
    bad[8] = 0x5b; // '[' instead of '{'
    const s2 = chunked(bad, 9);
    await expectPrune(
      readSafetensorsStream(s2, { name: "bad" }),
      "TENSOR_IO_MALFORMED",
      "bad: header does not start with '{'",
    );
    expect(s2.cancelled).toBe(true);
  });

  it("rejects non-byte chunks and a failing stream with typed errors", async () => {
    const strings = new ReadableStream({
      start(c) {
        c.enqueue("not bytes");
        c.close();
      },
    }) as unknown as ReadableStream<Uint8Array>;
    await expectPrune(readSafetensorsStream(strings, { name: "x" }), "TENSOR_IO_MALFORMED", "non-byte chunk");
    const broken = new ReadableStream<Uint8Array>({
      pull() {
        throw new Error("ECONNRESET");
      },
    });
    await expectPrune(
      readSafetensorsStream(broken, { name: "net" }),
      "TENSOR_IO_MALFORMED",
      "net: stream failed",
    );
    await expect(readSafetensorsStream({} as ReadableStream<Uint8Array>)).rejects.toThrow(TypeError);
  });
});
