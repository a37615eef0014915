import { isPruneError } from "@mama-prune/core";
import type { Checkpoint } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { randomModel } from "../test/fixtures/random-model.ts";
import { embedTokenRows } from "./embed-rows.ts";

const EMB = "model.embed_tokens.weight";

/** A checkpoint that counts whole reads and the bytes of part reads of each tensor; `parts: false` hides readRawRange. */
function counting(c: Checkpoint, parts = true) {
  const whole = new Map<string, number>();
  const partBytes = new Map<string, number>();
  const ranges: [number, number][] = [];
  const bump = (m: Map<string, number>, n: string, k: number): void => {
    m.set(n, (m.get(n) ?? 0) + k);
  };
  const ckpt: Checkpoint = {
    source: c.source,
    format: c.format,
    config: c.config,
    list: () => c.list(),
    has: (n) => c.has(n),
    info: (n) => c.info(n),
    readRaw: (n) => {
      bump(whole, n, 1);
      return c.readRaw(n);
    },
    readF32: (n) => {
      bump(whole, n, 1);
      return c.readF32(n);
    },
    ...(parts
      ? {
          readRawRange: async (n: string, o: number, k: number) => {
            bump(partBytes, n, k);
            ranges.push([o, k]);
            return c.readRawRange!(n, o, k);
          },
        }
      : {}),
    close: () => c.close(),
  };
  return { ckpt, whole, partBytes, ranges };
}

/** The reference: the whole matrix through readF32, rows gathered by token. */
async function gathered(c: Checkpoint, tokens: Int32Array, H: number): Promise<Float32Array> {
  const emb = await c.readF32(EMB);
  const out = new Float32Array(tokens.length * H);
  for (let i = 0; i < tokens.length; i++) out.set(emb.subarray(tokens[i]! * H, (tokens[i]! + 1) * H), i * H);
  return out;
}

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe("embedTokenRows", () => {
  const H = 8;
  const V = 700;
  // Repeats, a contiguous run longer than one read (300 > 256 rows), isolated rows, the last row.
  const tokens = Int32Array.from([
    5,
    5,
    699,
    0,
    17,
    5,
    18,
    19,
    400,
    ...Array.from({ length: 300 }, (_, i) => 100 + i),
    650,
    0,
    699,
  ]);
  const distinct = new Set(tokens).size;

  it.each([
    ["F32", undefined],
    ["F16", undefined],
    ["BF16", undefined],
    ["BF16", 4096],
    ["F16", 4096],
  ] as const)(
    "equals the whole-matrix read bit for bit, reading only the tokens' rows (%s, shards ≤ %s bytes)",
    async (dtype, shard) => {
      const { checkpoint, dir } = await randomModel({
        hidden: H,
        vocab: V,
        layers: 1,
        dtype,
        ...(shard !== undefined ? { maxShardSizeBytes: shard } : {}),
      });
      if (shard !== undefined) expect(dir.files.has("model.safetensors.index.json")).toBe(true);
      const ref = await gathered(checkpoint, tokens, H);
      const rowBytes = H * (dtype === "F32" ? 4 : 2);

      const c = counting(checkpoint);
      const got = await embedTokenRows(c.ckpt, EMB, tokens, H);
      expect(bits(got)).toEqual(bits(ref));
      expect(c.whole.size).toBe(0); // never the whole matrix
      expect(c.partBytes.get(EMB)).toBe(distinct * rowBytes); // each distinct row once, nothing else
      expect(Math.max(...c.ranges.map(([, k]) => k))).toBe(256 * rowBytes); // the long run in parts

      // A reader that cannot read parts: the stored bytes once, the same values.
      const w = counting(checkpoint, false);
      expect(bits(await embedTokenRows(w.ckpt, EMB, tokens, H))).toEqual(bits(ref));
      expect([...w.whole]).toEqual([[EMB, 1]]);
    },
  );

  it("refuses a token outside the vocabulary, a wrong width and a missing tensor, naming them", async () => {
    const { checkpoint } = await randomModel({ hidden: H, vocab: V, layers: 1 });
    const code = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
      } catch (e) {
        expect(isPruneError(e)).toBe(true);
        return `${(e as { code: string }).code}: ${(e as Error).message}`;
      }
      throw new Error("nothing thrown");
    };
    expect(await code(embedTokenRows(checkpoint, EMB, Int32Array.from([1, V]), H))).toMatch(
      /^RECIPE_INVALID: .*token 1 .*0 ≤ token < 700, got 700/,
    );
    expect(await code(embedTokenRows(checkpoint, EMB, Int32Array.from([-1]), H))).toMatch(/got -1/);
    expect(await code(embedTokenRows(checkpoint, EMB, Int32Array.from([1]), 16))).toMatch(
      /^SHAPE_MISMATCH: .*embed_tokens.*\[vocab, 16\], got \[700, 8\]/,
    );
    expect(await code(embedTokenRows(checkpoint, "lm_head.weight", Int32Array.from([1]), H))).toMatch(
      /^TENSOR_IO_NOT_FOUND: .*lm_head/,
    );
  });
});
