// Node-only: uses V8's gc (exposed at runtime) and WeakRefs to prove what the writer retains.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { writeSafetensors } from "../safetensors.ts";
import type { ByteSink } from "../sink.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

describe("writeSafetensors memory", () => {
  it("releases each pulled tensor before pulling the next (peak memory = one tensor)", async () => {
    // Each pull happens in a new macrotask after a full GC; a tensor still reachable from the
    // writer (e.g. from a suspended async frame) would be counted as alive.
    const refs: WeakRef<Float32Array>[] = [];
    const aliveAtPull: number[] = [];
    const sink: ByteSink = {
      write: () => new Promise((r) => setImmediate(r)),
      close: () => Promise.resolve(),
      abort: () => Promise.resolve(),
    };
    const entries = Array.from({ length: 6 }, (_, i) => ({
      name: `t${i}`,
      dtype: i % 2 ? ("BF16" as const) : ("F32" as const),
      shape: [1024],
      data: async () => {
        await new Promise((r) => setImmediate(r));
        gc();
        aliveAtPull.push(refs.filter((w) => w.deref() !== undefined).length);
        const v = new Float32Array(1024);
        refs.push(new WeakRef(v));
        return v;
      },
    }));
    await writeSafetensors(sink, entries, { chunkBytes: 1024 });
    expect(aliveAtPull).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
