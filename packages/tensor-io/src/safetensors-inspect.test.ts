import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { memoryCheckpointDir, readHfCheckpoint } from "./hf-folder.ts";
import { inspectSafetensorsFile } from "./node/safetensors-file.ts";
import { inspectSafetensors, readSafetensors, safetensorsBytes } from "./safetensors.ts";

function rawFile(header: unknown, dataLen: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a failure");
}

// Any byte a terminal would act on: C0 (ESC, BEL, …), DEL, C1 (8-bit CSI/OSC), bidi overrides.
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point of the check
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe("inspectSafetensors", () => {
  it("lists any file's tensors with offsets without reading tensor data", async () => {
    const bytes = await safetensorsBytes(
      [
        { name: "emb", dtype: "BF16", shape: [3, 2], data: new Float32Array(6) },
        { name: "none", dtype: "F32", shape: [0], data: new Float32Array(0) },
        { name: "n", dtype: "U8", shape: [], data: new Uint8Array([1]) },
      ],
      { metadata: { format: "pt" } },
    );
    let dataReads = 0;
    let dataOffset = 0;
    const src = {
      name: "any.safetensors",
      size: bytes.length,
      read: async (o: number, l: number): Promise<Uint8Array> => {
        if (dataOffset > 0 && o + l > dataOffset) dataReads++;
        return bytes.slice(o, o + l);
      },
    };
    dataOffset = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const info = await inspectSafetensors(src);
    expect(dataReads).toBe(0);
    expect(info).toMatchObject({
      source: "any.safetensors",
      fileBytes: bytes.length,
      dataOffset,
      headerBytes: dataOffset - 8,
      metadata: { format: "pt" },
      warnings: [],
    });
    expect(info.tensors).toEqual([
      {
        name: "emb",
        dtype: "BF16",
        shape: [3, 2],
        offsets: [0, 12],
        fileOffsets: [dataOffset, dataOffset + 12],
        bytes: 12,
      },
      {
        name: "none",
        dtype: "F32",
        shape: [0],
        offsets: [12, 12],
        fileOffsets: [dataOffset + 12, dataOffset + 12],
        bytes: 0,
      },
      {
        name: "n",
        dtype: "U8",
        shape: [],
        offsets: [12, 13],
        fileOffsets: [dataOffset + 12, dataOffset + 13],
        bytes: 1,
      },
    ]);
    expect(Object.keys(info.header).sort()).toEqual(["__metadata__", "emb", "n", "none"]);
  });

  it("validates the layout like the reader: strict by default, lenient with warnings", async () => {
    const f = rawFile({ w: { dtype: "U8", shape: [1], data_offsets: [1, 2] } }, 3);
    const e = await failure(inspectSafetensors(f, { name: "x.safetensors" }));
    expect(isPruneError(e, "TENSOR_IO_MALFORMED")).toBe(true);
    expect(e.message).toContain('x.safetensors: tensor "w" (data_offsets [1, 2], file bytes [');
    const info = await inspectSafetensors(f, { lenient: true });
    expect(info.warnings.map((w) => w.kind)).toEqual(["leading-bytes", "trailing-bytes"]);
    expect(info.tensors.map((t) => t.name)).toEqual(["w"]);
  });

  it("works on a file on disk and closes it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "inspect-"));
    try {
      const p = join(dir, "t.safetensors");
      await writeFile(
        p,
        await safetensorsBytes([{ name: "a", dtype: "F16", shape: [2], data: new Float32Array(2) }]),
      );
      expect((await inspectSafetensorsFile(p)).tensors.map((t) => [t.name, t.bytes])).toEqual([["a", 4]]);
      expect(
        isPruneError(await failure(inspectSafetensorsFile(join(dir, "missing"))), "TENSOR_IO_NOT_FOUND"),
      ).toBe(true);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe("names from files in messages", () => {
  const OSC = "\u001b]0;pwned\u0007\u001b[2J\u001b[31m\u009b1m\u202e";

  it("escape an OSC title sequence in a tensor name, a dtype and a metadata key", async () => {
    const headers: unknown[] = [
      { [`w${OSC}`]: { dtype: "U8", shape: [1], data_offsets: [0, 2] } },
      { w: { dtype: `F${OSC}`, shape: [1], data_offsets: [0, 1] } },
      { __metadata__: { [`k${OSC}`]: 1 } },
      { w: { dtype: "U8", shape: [1], data_offsets: [0, 1], [OSC]: 1 } },
      `{"w${OSC}": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "w${OSC}": 1}`,
    ];
    for (const h of headers) {
      const e = await failure(readSafetensors(rawFile(h, 1), { name: "evil.safetensors" }));
      expect(isPruneError(e)).toBe(true);
      expect(e.message).not.toMatch(RAW_CONTROL);
      expect(e.message).toContain("\\u001b]0;pwned\\u0007");
    }
    // Lenient warnings too.
    const st = await readSafetensors(
      rawFile({ w: { dtype: "U8", shape: [1], data_offsets: [0, 1], [OSC]: 1 } }, 1),
      {
        lenient: true,
      },
    );
    expect(st.warnings[0]!.message).not.toMatch(RAW_CONTROL);
  });

  it("bound a 10 kB tensor name", async () => {
    const name = `${"n".repeat(10_000)}${OSC}`;
    const e = await failure(
      readSafetensors(rawFile({ [name]: { dtype: "U8", shape: [2], data_offsets: [0, 1] } }, 1), {
        name: "big",
      }),
    );
    expect(isPruneError(e, "TENSOR_IO_MALFORMED")).toBe(true);
    expect(e.message.length).toBeLessThan(600);
    expect(e.message).toContain(`"${"n".repeat(80)}"…(+${name.length - 80} chars)`);
    expect(e.message).not.toMatch(RAW_CONTROL);
  });

  it("escape names in sharded-folder messages and warnings", async () => {
    const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
    const shard = await safetensorsBytes([{ name: "a", dtype: "U8", shape: [1], data: new Uint8Array([1]) }]);
    const dir = memoryCheckpointDir(
      "f",
      new Map([
        ["config.json", enc({})],
        [
          "model.safetensors.index.json",
          enc({ weight_map: { a: "s.safetensors", [`x${OSC}`]: "s.safetensors" } }),
        ],
        ["s.safetensors", shard],
      ]),
    );
    const e = await failure(readHfCheckpoint(dir));
    expect(isPruneError(e, "TENSOR_IO_MALFORMED")).toBe(true);
    expect(e.message).not.toMatch(RAW_CONTROL);
  });
});

describe("readHfCheckpoint lenient pass-through", () => {
  it("rejects a shard with trailing bytes by default and accepts it with lenient: true", async () => {
    const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
    const good = await safetensorsBytes([{ name: "a", dtype: "U8", shape: [1], data: new Uint8Array([5]) }]);
    const padded = new Uint8Array(good.length + 4);
    padded.set(good);
    for (const index of [false, true]) {
      const files = new Map([["config.json", enc({})]]);
      if (index) {
        files.set("model-00001-of-00001.safetensors", padded);
        files.set(
          "model.safetensors.index.json",
          enc({ weight_map: { a: "model-00001-of-00001.safetensors" } }),
        );
      } else files.set("model.safetensors", padded);
      const e = await failure(readHfCheckpoint(memoryCheckpointDir("hf", new Map(files))));
      expect(isPruneError(e, "TENSOR_IO_MALFORMED")).toBe(true);
      expect(e.message).toContain("hf/model");
      expect(e.message).toContain("trailing bytes after the last tensor");
      const ckpt = await readHfCheckpoint(memoryCheckpointDir("hf", new Map(files)), { lenient: true });
      expect(Array.from(await ckpt.readF32("a"))).toEqual([5]);
      await ckpt.close();
    }
  });
});
