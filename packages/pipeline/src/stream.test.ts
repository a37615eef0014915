import { LINEAR_NAMES } from "@mama-prune/model";
import { type Checkpoint, f32ToBytes, memoryCheckpointDir, readHfCheckpoint } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { randomModel, randomWindows } from "../test/fixtures/random-model.ts";
import { prune } from "./prune.ts";
import { pruneToCheckpoint } from "./stream.ts";

const SHAPE = { hidden: 16, intermediate: 32, layers: 4, heads: 4, kvHeads: 2, vocab: 40 };

/** Record the layer of every block tensor read through readF32. */
function recording(ckpt: Checkpoint): { ckpt: Checkpoint; layers: number[] } {
  const layers: number[] = [];
  return {
    layers,
    ckpt: {
      ...ckpt,
      list: () => ckpt.list(),
      has: (n) => ckpt.has(n),
      info: (n) => ckpt.info(n),
      readRaw: (n) => ckpt.readRaw(n),
      readF32: (n) => {
        const m = /^model\.layers\.(\d+)\./.exec(n);
        if (m !== null) layers.push(Number(m[1]));
        return ckpt.readF32(n);
      },
      close: () => ckpt.close(),
    },
  };
}

describe("pruneToCheckpoint", () => {
  it.each([
    ["sparsegpt", 0.6, "sparse-bitmask"],
    ["mama", 0.5, "dense"],
  ] as const)(
    "writes the same weights as the in-memory pipeline (%s), loading blocks one at a time in order",
    async (method, sparsity, format) => {
      const { checkpoint } = await randomModel(SHAPE);
      const cal = randomWindows(2, 8, SHAPE.vocab);
      const mem = await prune({ checkpoint, method, sparsity, calibration: cal });
      const rec = recording(checkpoint);
      const out = memoryCheckpointDir("streamed");
      const { report } = await pruneToCheckpoint(out, {
        checkpoint: rec.ckpt,
        method,
        sparsity,
        calibration: cal,
        format,
      });
      const back = await readHfCheckpoint(out);
      for (let l = 0; l < SHAPE.layers; l++) {
        for (const name of LINEAR_NAMES) {
          const got = await back.readF32(mem.model.parameterName(l, name));
          expect(Array.from(got), `${l}.${name}`).toEqual(Array.from(mem.model.getLinearWeight(l, name)));
        }
      }
      expect(Array.from(await back.readRaw("model.embed_tokens.weight"))).toEqual(
        Array.from(await checkpoint.readRaw("model.embed_tokens.weight")),
      );
      // Blocks were read in order: never back to an earlier block once a later one was loaded.
      for (let i = 1; i < rec.layers.length; i++)
        expect(rec.layers[i]!).toBeGreaterThanOrEqual(rec.layers[i - 1]!);
      expect(new Set(rec.layers).size).toBe(SHAPE.layers);
      expect(report.overallSparsity).toBe(mem.report.overallSparsity);
      const meta = (back.config as Record<string, unknown>)["mama_prune"] as Record<string, unknown>;
      expect(meta["method"]).toBe(method);
      expect(Object.keys(meta["per_layer_sparsity"] as object)).toHaveLength(SHAPE.layers * 7);
      expect((back.config as Record<string, unknown>)["num_hidden_layers"]).toBe(SHAPE.layers);
    },
  );

  it("supports OWL (dense pre-pass block by block) with the same result as in memory", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const cal = randomWindows(2, 8, SHAPE.vocab);
    const allocation = { kind: "owl", lambda: 0.05 } as const;
    const mem = await prune({ checkpoint, method: "wanda", sparsity: 0.5, calibration: cal, allocation });
    const out = memoryCheckpointDir("owl");
    const { report } = await pruneToCheckpoint(out, {
      checkpoint,
      method: "wanda",
      sparsity: 0.5,
      calibration: cal,
      allocation,
    });
    expect(report.perBlockSparsity).toEqual(mem.report.perBlockSparsity);
    const back = await readHfCheckpoint(out);
    const name = mem.model.parameterName(3, "up_proj");
    expect(Array.from(await back.readF32(name))).toEqual(Array.from(mem.model.getLinearWeight(3, "up_proj")));
  });

  it.each(["mama", "sparsegpt"] as const)(
    "reads only the calibration tokens' embedding rows of a sharded bf16 checkpoint, with the same weights as in memory (%s)",
    async (method) => {
      const shape = { ...SHAPE, layers: 2, vocab: 300 };
      const { checkpoint, dir } = await randomModel({ ...shape, dtype: "BF16", maxShardSizeBytes: 4096 });
      expect(dir.files.has("model.safetensors.index.json")).toBe(true);
      const cal = randomWindows(2, 16, shape.vocab);
      const mem = await prune({ checkpoint, method, sparsity: 0.5, calibration: cal });
      const emb = "model.embed_tokens.weight";
      let whole = 0;
      let partBytes = 0;
      const counted: Checkpoint = {
        ...checkpoint,
        readRaw: (n) => {
          if (n === emb) whole++;
          return checkpoint.readRaw(n);
        },
        readF32: (n) => {
          if (n === emb) whole++;
          return checkpoint.readF32(n);
        },
        readRawRange: (n, o, k) => {
          if (n === emb) partBytes += k;
          return checkpoint.readRawRange!(n, o, k);
        },
      };
      const out = memoryCheckpointDir("rows");
      await pruneToCheckpoint(out, { checkpoint: counted, method, sparsity: 0.5, calibration: cal });
      const back = await readHfCheckpoint(out);
      // The stored bf16 bytes of every pruned linear = the in-memory pipeline's float32 weights rounded.
      for (let l = 0; l < shape.layers; l++) {
        for (const name of LINEAR_NAMES) {
          const got = await back.readRaw(mem.model.parameterName(l, name));
          const want = f32ToBytes(mem.model.getLinearWeight(l, name), "BF16");
          expect(Array.from(got), `${l}.${name}`).toEqual(Array.from(want));
        }
      }
      // The embedding's rows for the calibration (2 bytes × hidden each, once per distinct token), then
      // the stored tensor copied whole to the output (one readRaw), unchanged.
      expect(partBytes).toBe(new Set(cal.tokens).size * 2 * shape.hidden);
      expect(whole).toBe(1);
      expect(Array.from(await back.readRaw(emb))).toEqual(Array.from(await checkpoint.readRaw(emb)));
    },
  );
});
