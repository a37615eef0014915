import { describe, expect, it } from "vitest";
import { parseJsonObject } from "./config.ts";
import { memoryCheckpointDir, readHfCheckpoint, writeHfCheckpoint } from "./hf-folder.ts";
import type { SafetensorsEntry } from "./safetensors.ts";

const entry = (name: string, n: number, order: string[]): SafetensorsEntry => ({
  name,
  dtype: "F32",
  shape: [n],
  data: () => {
    order.push(name);
    return Float32Array.from({ length: n }, (_, i) => i + name.length);
  },
});

describe("writeHfCheckpoint shardOf", () => {
  it("groups tensors by shardOf (order kept inside a shard, shards written in order) and indexes them", async () => {
    const order: string[] = [];
    const dir = memoryCheckpointDir("out");
    const shard: Record<string, number> = { a: 1, bb: 0, ccc: 1, dddd: 0 };
    const res = await writeHfCheckpoint(dir, {
      config: { model_type: "llama" },
      tensors: ["a", "bb", "ccc", "dddd"].map((n) => entry(n, 3, order)),
      shardOf: (n) => shard[n]!,
      maxShardSizeBytes: 1, // ignored with shardOf
    });
    expect(res.files).toEqual([
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
      "model.safetensors.index.json",
      "config.json",
    ]);
    expect(order).toEqual(["bb", "dddd", "a", "ccc"]);
    const index = parseJsonObject(dir.files.get("model.safetensors.index.json")!, "index");
    expect(index["weight_map"]).toEqual({
      a: "model-00002-of-00002.safetensors",
      bb: "model-00001-of-00002.safetensors",
      ccc: "model-00002-of-00002.safetensors",
      dddd: "model-00001-of-00002.safetensors",
    });
    const back = await readHfCheckpoint(dir);
    expect(Array.from(await back.readF32("ccc"))).toEqual([3, 4, 5]);
  });

  it("one shard is model.safetensors without an index, whatever maxShardSizeBytes says", async () => {
    const dir = memoryCheckpointDir("out");
    const res = await writeHfCheckpoint(dir, {
      config: { model_type: "llama" },
      tensors: ["a", "bb"].map((n) => entry(n, 4, [])),
      shardOf: () => 0,
      maxShardSizeBytes: 1,
    });
    expect(res.files).toEqual(["model.safetensors", "config.json"]);
  });

  it("refuses a shard that gets no tensor and a non-integer shard", async () => {
    const write = (shardOf: (n: string) => number) =>
      writeHfCheckpoint(memoryCheckpointDir("out"), {
        config: {},
        tensors: ["a", "bb"].map((n) => entry(n, 2, [])),
        shardOf,
      });
    await expect(write((n) => (n === "a" ? 0 : 2))).rejects.toThrow(/no tensor to shard 1 of 3/);
    await expect(write(() => 0.5)).rejects.toThrow(/shardOf\("a"\) must be an integer/);
  });
});
