import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createMemoryLogger, isPruneError, type PruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { parseJsonObject } from "./config.ts";
import {
  checkpointEntries,
  isBlockLinear,
  type MemoryCheckpointDir,
  memoryCheckpointDir,
  readHfCheckpoint,
  sideFiles,
  writeHfCheckpoint,
} from "./hf-folder.ts";
import { readLlama2c } from "./llama2c.ts";
import { readSafetensors, type SafetensorsEntry, safetensorsBytes } from "./safetensors.ts";
import type { Checkpoint } from "./types.ts";

const BIN = fileURLToPath(new URL("../../../data/stories260K/stories260K.bin", import.meta.url));
const bin = new Uint8Array(readFileSync(BIN));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(isPruneError(e), String(e)).toBe(true);
    return `${(e as PruneError).code}: ${(e as Error).message}`;
  }
  throw new Error("nothing thrown");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function expectSameTensors(a: Checkpoint, b: Checkpoint): Promise<number> {
  expect(b.list().map((t) => [t.name, t.dtype, t.shape])).toEqual(
    a.list().map((t) => [t.name, t.dtype, t.shape]),
  );
  let n = 0;
  for (const t of a.list()) {
    expect(sameBytes(await a.readRaw(t.name), await b.readRaw(t.name)), t.name).toBe(true);
    n++;
  }
  return n;
}

const json = (dir: MemoryCheckpointDir, file: string): Record<string, unknown> =>
  parseJsonObject(dir.files.get(file)!, file);

/** Entries of the bundled model with the block linears pruned by `prune` (a pure function of the index). */
function prunedEntries(ckpt: Checkpoint, keep: (i: number) => boolean): SafetensorsEntry[] {
  return ckpt.list().map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    data: async () => {
      const w = await ckpt.readF32(t.name);
      if (isBlockLinear(t.name, t.shape)) for (let i = 0; i < w.length; i++) if (!keep(i)) w[i] = 0;
      return w;
    },
  }));
}

describe("writeHfCheckpoint + readHfCheckpoint", () => {
  it("writes the bundled model as several shards and reads every tensor back bit-identical", async () => {
    const src = await readLlama2c(bin, "stories260K.bin");
    const dir = memoryCheckpointDir("out");
    const res = await writeHfCheckpoint(dir, {
      config: src.config,
      tensors: checkpointEntries(src),
      maxShardSizeBytes: 200_000,
    });
    const shards = res.files.filter((f) => f.endsWith(".safetensors"));
    expect(shards.length).toBe(6); // 1,040,128 bytes of float32 in ≤ 200,000-byte shards, tensors never split
    expect(shards[0]).toBe("model-00001-of-00006.safetensors");
    expect(res.files.slice(-2)).toEqual(["model.safetensors.index.json", "config.json"]);
    expect(res.totalSizeBytes).toBe(260_032 * 4);
    const index = json(dir, "model.safetensors.index.json");
    expect(index["metadata"]).toEqual({ total_size: 260_032 * 4 });
    const names = Object.keys(index["weight_map"] as object);
    expect(names).toEqual([...names].sort());
    expect(names.length).toBe(src.list().length);
    for (const f of shards) {
      const st = await readSafetensors(dir.files.get(f)!);
      expect(st.metadata).toEqual({ format: "pt" });
      expect(st.list().reduce((a, t) => a + t.byteLength, 0)).toBeLessThanOrEqual(200_000);
    }
    expect(json(dir, "config.json")).toEqual(src.config);
    const back = await readHfCheckpoint(dir);
    expect(back.format).toBe("hf-folder");
    expect(back.config).toEqual(src.config);
    expect(await expectSameTensors(src, back)).toBe(47);
    await back.close();
  });

  it("writes a single model.safetensors without an index when everything fits", async () => {
    const src = await readLlama2c(bin);
    const dir = memoryCheckpointDir();
    const res = await writeHfCheckpoint(dir, { config: src.config, tensors: checkpointEntries(src) });
    expect(res.files).toEqual(["model.safetensors", "config.json"]);
    expect(await expectSameTensors(src, await readHfCheckpoint(dir))).toBe(47);
  });

  it("stores pruned linears as sparse-bitmask, smaller on disk, and reads them back dense", async () => {
    const src = await readLlama2c(bin);
    const keep = (i: number): boolean => i % 3 === 0; // 2/3 zeros in every block linear
    const denseDir = memoryCheckpointDir();
    await writeHfCheckpoint(denseDir, { config: src.config, tensors: prunedEntries(src, keep) });
    const dir = memoryCheckpointDir();
    const res = await writeHfCheckpoint(dir, {
      config: src.config,
      tensors: prunedEntries(src, keep),
      format: "sparse-bitmask",
      maxShardSizeBytes: 300_000,
    });
    const size = (d: MemoryCheckpointDir): number =>
      [...d.files].filter(([f]) => f.endsWith(".safetensors")).reduce((a, [, b]) => a + b.byteLength, 0);
    expect(size(dir)).toBeLessThan(0.6 * size(denseDir));
    // zeros: pruned positions plus weights that were exactly zero already
    const linears = src.list().filter((t) => isBlockLinear(t.name, t.shape));
    let zeros = 0;
    let numel = 0;
    for (const t of linears) {
      const w = await src.readF32(t.name);
      for (let i = 0; i < w.length; i++) if (!keep(i) || w[i] === 0) zeros++;
      numel += w.length;
    }
    expect(res.globalSparsity).toBeCloseTo(zeros / numel, 12);
    const cfg = json(dir, "config.json");
    expect(cfg["quantization_config"]).toEqual({
      quant_method: "compressed-tensors",
      format: "sparse-bitmask",
      sparsity_config: {
        format: "sparse-bitmask",
        global_sparsity: res.globalSparsity,
        sparsity_structure: "unstructured",
        targets: ["Linear"],
        ignore: ["lm_head"],
      },
    });
    const index = json(dir, "model.safetensors.index.json")["weight_map"] as Record<string, string>;
    expect(index["model.layers.0.self_attn.q_proj.row_offsets"]).toMatch(
      /^model-0000\d-of-0000\d\.safetensors$/,
    );
    expect(index["model.layers.0.self_attn.q_proj.weight"]).toBeUndefined();
    const back = await readHfCheckpoint(dir);
    expect(await expectSameTensors(await readHfCheckpoint(denseDir), back)).toBe(47);
    // re-saving dense drops the sparsity config
    const again = memoryCheckpointDir();
    await writeHfCheckpoint(again, { config: back.config, tensors: checkpointEntries(back) });
    expect(json(again, "config.json")["quantization_config"]).toBeUndefined();
    expect(await expectSameTensors(back, await readHfCheckpoint(again))).toBe(47);
  });

  it("stores 2:4 linears as sparse-24-bitmask and refuses a weight that breaks the pattern", async () => {
    const src = await readLlama2c(bin);
    const keep = (i: number): boolean => i % 4 === 1 || i % 4 === 2;
    const dir = memoryCheckpointDir();
    const res = await writeHfCheckpoint(dir, {
      config: src.config,
      tensors: prunedEntries(src, keep),
      format: "sparse-24-bitmask",
    });
    expect(res.globalSparsity).toBeGreaterThanOrEqual(0.5);
    const st = await readSafetensors(dir.files.get("model.safetensors")!);
    expect(st.info("model.layers.2.mlp.down_proj.compressed").shape).toEqual([64, 86]);
    expect(st.info("model.layers.2.mlp.down_proj.shape").shape).toEqual([2, 1]);
    const back = await readHfCheckpoint(dir);
    const w = await back.readF32("model.layers.2.mlp.down_proj.weight");
    const ref = await src.readF32("model.layers.2.mlp.down_proj.weight");
    for (let i = 0; i < w.length; i++) expect(w[i]).toBe(keep(i) ? ref[i] : 0);

    const bad = memoryCheckpointDir();
    const msg = await codeOf(
      writeHfCheckpoint(bad, {
        config: src.config,
        tensors: prunedEntries(src, (i) => i % 4 !== 0),
        format: "sparse-24-bitmask",
      }),
    );
    expect(msg).toMatch(
      /^MASK_INVALID: model\.layers\.0\.self_attn\.q_proj\.weight: row 0, columns 0\.\.3 have 3 non-zeros/,
    );
    expect(bad.files.size).toBe(0); // nothing committed
  });
});

describe("readHfCheckpoint", () => {
  async function sharded(): Promise<MemoryCheckpointDir> {
    const src = await readLlama2c(bin);
    const dir = memoryCheckpointDir("m");
    await writeHfCheckpoint(dir, {
      config: src.config,
      tensors: checkpointEntries(src),
      maxShardSizeBytes: 400_000,
    });
    return dir;
  }
  const enc = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o));

  it("reports a missing shard, a tensor missing from its shard and a bad weight_map with typed errors", async () => {
    const d1 = await sharded();
    d1.files.delete("model-00002-of-00003.safetensors");
    expect(await codeOf(readHfCheckpoint(d1))).toMatch(
      /^TENSOR_IO_NOT_FOUND: m\/model\.safetensors\.index\.json: shard model-00002-of-00003\.safetensors is listed/,
    );
    const d2 = await sharded();
    const index = json(d2, "model.safetensors.index.json");
    const map = index["weight_map"] as Record<string, string>;
    map["model.norm.weight"] = "model-00001-of-00003.safetensors";
    d2.files.set("model.safetensors.index.json", enc(index));
    expect(await codeOf(readHfCheckpoint(d2))).toMatch(
      /^TENSOR_IO_MALFORMED: .*tensor "model\.norm\.weight" is mapped to model-00001-of-00003.safetensors, but that shard does not contain it/,
    );
    const d3 = await sharded();
    d3.files.set("model.safetensors.index.json", enc({ metadata: {} }));
    expect(await codeOf(readHfCheckpoint(d3))).toMatch(/^TENSOR_IO_MALFORMED: .*weight_map is missing/);
    d3.files.set("model.safetensors.index.json", enc({ weight_map: { a: "../../etc/passwd" } }));
    expect(await codeOf(readHfCheckpoint(d3))).toMatch(/^TENSOR_IO_MALFORMED: .*unsafe file name/);
    d3.files.set("model.safetensors.index.json", enc({ weight_map: { a: 3 } }));
    expect(await codeOf(readHfCheckpoint(d3))).toMatch(/^TENSOR_IO_MALFORMED: .*not a file name/);
    d3.files.set("model.safetensors.index.json", new TextEncoder().encode("{nope"));
    expect(await codeOf(readHfCheckpoint(d3))).toMatch(/^TENSOR_IO_MALFORMED: .*not valid UTF-8 JSON/);
  });

  it("prefers model.safetensors over an index, as transformers does, and warns", async () => {
    const d = await sharded();
    const single = await safetensorsBytes([
      { name: "only", dtype: "F32", shape: [1], data: new Float32Array([7]) },
    ]);
    d.files.set("model.safetensors", single);
    const log = createMemoryLogger();
    const ckpt = await readHfCheckpoint(d, { logger: log });
    expect(ckpt.list().map((t) => t.name)).toEqual(["only"]);
    expect(log.records.map((r) => r.message)).toEqual([
      "m: both model.safetensors and model.safetensors.index.json exist; reading model.safetensors",
    ]);
  });

  it("reports a missing or invalid config.json and missing weights", async () => {
    const d = await sharded();
    d.files.set("config.json", new TextEncoder().encode("[1]"));
    expect(await codeOf(readHfCheckpoint(d))).toMatch(
      /^CONFIG_INVALID: m\/config\.json: top level is not a JSON object/,
    );
    d.files.delete("config.json");
    expect(await codeOf(readHfCheckpoint(d))).toMatch(/^TENSOR_IO_NOT_FOUND: m: config\.json is missing/);
    const empty = memoryCheckpointDir("e", new Map([["config.json", enc({})]]));
    expect(await codeOf(readHfCheckpoint(empty))).toMatch(/^TENSOR_IO_NOT_FOUND: e: no weights/);
    empty.files.set("pytorch_model.bin", new Uint8Array(8));
    expect(await codeOf(readHfCheckpoint(empty))).toMatch(
      /^TENSOR_IO_UNSUPPORTED: e: only PyTorch pickle weights/,
    );
  });

  it("warns about tensors a shard holds but the index does not map, and about a wrong total_size", async () => {
    const st = await safetensorsBytes([
      { name: "a", dtype: "F32", shape: [1], data: new Float32Array([1]) },
      { name: "b", dtype: "F32", shape: [1], data: new Float32Array([2]) },
    ]);
    const dir = memoryCheckpointDir(
      "w",
      new Map([
        ["config.json", enc({})],
        ["s.safetensors", st],
        [
          "model.safetensors.index.json",
          enc({ metadata: { total_size: 99 }, weight_map: { a: "s.safetensors" } }),
        ],
      ]),
    );
    const log = createMemoryLogger();
    const ckpt = await readHfCheckpoint(dir, { logger: log });
    expect(ckpt.list().map((t) => t.name)).toEqual(["a"]);
    expect(await ckpt.readF32("a")).toEqual(new Float32Array([1]));
    expect(await codeOf(ckpt.readF32("b"))).toMatch(/^TENSOR_IO_NOT_FOUND/);
    expect(log.records.map((r) => r.message)).toEqual([
      'w/s.safetensors: tensor "b" is not in model.safetensors.index.json; ignored',
      "w/model.safetensors.index.json: metadata.total_size is 99 but the mapped tensors hold 4 bytes",
    ]);
  });
});

describe("writeHfCheckpoint options", () => {
  const entry = (name: string, shape: number[], values: number[]): SafetensorsEntry => ({
    name,
    dtype: "BF16",
    shape,
    data: Float32Array.from(values),
  });

  it("accepts an async iterable and compresses BF16 targets in their own dtype", async () => {
    async function* gen(): AsyncGenerator<SafetensorsEntry> {
      yield entry("model.layers.0.mlp.up_proj.weight", [2, 4], [0, 1.5, 0, 0, -2, 0, 0, 0.25]);
      yield entry("model.norm.weight", [4], [1, 0, 0, 1]);
    }
    const dir = memoryCheckpointDir();
    const res = await writeHfCheckpoint(dir, { config: {}, tensors: gen(), format: "sparse-bitmask" });
    expect(res.globalSparsity).toBe(5 / 8);
    const st = await readSafetensors(dir.files.get("model.safetensors")!);
    expect(st.info("model.layers.0.mlp.up_proj.compressed")).toMatchObject({ dtype: "BF16", shape: [3] });
    expect(st.has("model.norm.weight")).toBe(true); // not a target: stays dense
    const back = await readHfCheckpoint(dir);
    expect(back.info("model.layers.0.mlp.up_proj.weight").dtype).toBe("BF16");
    expect([...(await back.readF32("model.layers.0.mlp.up_proj.weight"))]).toEqual([
      0, 1.5, 0, 0, -2, 0, 0, 0.25,
    ]);
  });

  it("rejects bad options and aborts without committing", async () => {
    const dir = memoryCheckpointDir();
    const one = [entry("a", [1], [1])];
    await expect(writeHfCheckpoint(dir, { config: {}, tensors: one, maxShardSizeBytes: 0 })).rejects.toThrow(
      RangeError,
    );
    await expect(writeHfCheckpoint(dir, { config: {}, tensors: [...one, ...one] })).rejects.toThrow(
      /duplicate tensor name/,
    );
    const ac = new AbortController();
    ac.abort();
    expect(await codeOf(writeHfCheckpoint(dir, { config: {}, tensors: one, signal: ac.signal }))).toMatch(
      /^ABORTED/,
    );
    expect(dir.files.size).toBe(0);
  });
});

describe("sideFiles", () => {
  it("carries tokenizer and generation files over to a re-saved folder", async () => {
    const src = await readLlama2c(bin);
    const a = memoryCheckpointDir("a");
    await writeHfCheckpoint(a, {
      config: src.config,
      tensors: checkpointEntries(src),
      maxShardSizeBytes: 500_000,
      extraFiles: [
        { file: "tokenizer.json", data: new TextEncoder().encode('{"model":{}}') },
        { file: "generation_config.json", data: async () => new TextEncoder().encode("{}") },
      ],
    });
    a.files.set("pytorch_model.bin", new Uint8Array(4));
    const extra = await sideFiles(a);
    expect(extra.map((f) => f.file)).toEqual(["generation_config.json", "tokenizer.json"]);
    const b = memoryCheckpointDir("b");
    const back = await readHfCheckpoint(a);
    const res = await writeHfCheckpoint(b, {
      config: back.config,
      tensors: checkpointEntries(back),
      extraFiles: extra,
    });
    expect(res.files).toEqual([
      "model.safetensors",
      "generation_config.json",
      "tokenizer.json",
      "config.json",
    ]);
    expect(new TextDecoder().decode(b.files.get("tokenizer.json"))).toBe('{"model":{}}');
    await expect(
      writeHfCheckpoint(memoryCheckpointDir(), {
        config: {},
        tensors: [],
        extraFiles: [{ file: "config.json", data: new Uint8Array() }],
      }),
    ).rejects.toThrow(RangeError);
    expect(
      await codeOf(
        writeHfCheckpoint(memoryCheckpointDir(), {
          config: {},
          tensors: [],
          extraFiles: [{ file: "../x", data: new Uint8Array() }],
        }),
      ),
    ).toMatch(/^TENSOR_IO_MALFORMED: writeHfCheckpoint: extraFiles: unsafe file name/);
  });
});
