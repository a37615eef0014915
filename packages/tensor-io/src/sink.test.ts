import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";
import { collectSink, writableStreamSink } from "./sink.ts";

describe("collectSink", () => {
  it("joins chunks on close and copies them so callers may reuse buffers", async () => {
    const sink = collectSink();
    const buf = new Uint8Array([1, 2]);
    await sink.write(buf);
    buf[0] = 7;
    await sink.write(new Uint8Array([3]));
    expect(sink.bytesWritten).toBe(3);
    expect(() => sink.bytes()).toThrow(/before close/);
    await sink.close();
    expect(Array.from(sink.bytes())).toEqual([1, 2, 3]);
  });
  it("rejects writes after close or abort with TENSOR_IO_WRITE_FAILED", async () => {
    const sink = collectSink();
    await sink.abort();
    let err: unknown;
    try {
      await sink.write(new Uint8Array(1));
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "TENSOR_IO_WRITE_FAILED")).toBe(true);
    expect(() => sink.bytes()).toThrow(/aborted/);
  });
});

describe("writableStreamSink", () => {
  it("streams a safetensors file through a web WritableStream", async () => {
    const chunks: Uint8Array[] = [];
    const stream = new WritableStream<Uint8Array>({
      write(c) {
        chunks.push(c.slice());
      },
    });
    await writeSafetensors(writableStreamSink(stream, "s.safetensors"), [
      { name: "w", dtype: "F16", shape: [2], data: new Float32Array([0.5, -2]) },
    ]);
    const bytes = new Uint8Array(await new Blob(chunks as Uint8Array<ArrayBuffer>[]).arrayBuffer());
    expect(Array.from(await (await readSafetensors(bytes)).readF32("w"))).toEqual([0.5, -2]);
  });
  it("turns a stream error into TENSOR_IO_WRITE_FAILED naming the stream", async () => {
    const stream = new WritableStream<Uint8Array>({
      write() {
        throw new Error("disk full");
      },
    });
    let err: unknown;
    try {
      await writeSafetensors(writableStreamSink(stream, "s.safetensors"), []);
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "TENSOR_IO_WRITE_FAILED")).toBe(true);
    expect((err as Error).message).toContain("s.safetensors: write failed");
  });
});
