import { isPruneError, sha256Hex } from "@mama-prune/core";
import { LINEAR_NAMES } from "@mama-prune/model";
import { memoryCheckpointDir, readHfCheckpoint } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { randomModel, randomWindows } from "../test/fixtures/random-model.ts";
import { writePrunedCheckpoint } from "./checkpoint.ts";
import { prune } from "./prune.ts";

const SHAPE = { hidden: 16, intermediate: 32, layers: 2, heads: 4, kvHeads: 2, vocab: 40 };

async function digest(files: Map<string, Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for (const [k, v] of [...files].sort(([a], [b]) => a.localeCompare(b)))
    out.push(`${k}:${await sha256Hex(v)}`);
  return out;
}

describe("writePrunedCheckpoint", () => {
  it.each(["dense", "sparse-bitmask"] as const)(
    "round-trips the pruned weights exactly (%s) and leaves the input untouched",
    async (format) => {
      const { checkpoint, dir: src } = await randomModel(SHAPE);
      const before = await digest(src.files);
      const cal = randomWindows(2, 8, SHAPE.vocab);
      const { model, report } = await prune({
        checkpoint,
        method: "sparsegpt",
        sparsity: 0.6,
        calibration: cal,
      });
      const out = memoryCheckpointDir("pruned");
      const res = await writePrunedCheckpoint(out, {
        model,
        source: checkpoint,
        report,
        format,
        metadata: { note: "t" },
      });
      const back = await readHfCheckpoint(out);
      for (let l = 0; l < SHAPE.layers; l++) {
        for (const name of LINEAR_NAMES) {
          const got = await back.readF32(model.parameterName(l, name));
          expect(Array.from(got)).toEqual(Array.from(model.getLinearWeight(l, name)));
        }
      }
      // Non-pruned tensors are byte-identical copies.
      for (const t of [
        "model.embed_tokens.weight",
        "model.norm.weight",
        "model.layers.1.input_layernorm.weight",
      ]) {
        expect(Array.from(await back.readRaw(t))).toEqual(Array.from(await checkpoint.readRaw(t)));
      }
      const cfg = back.config as Record<string, unknown>;
      const meta = cfg["mama_prune"] as Record<string, unknown>;
      expect(meta["method"]).toBe("sparsegpt");
      expect(meta["note"]).toBe("t");
      expect(meta["overall_sparsity"]).toBe(report.overallSparsity);
      expect((meta["calibration"] as { nsamples: number }).nsamples).toBe(2);
      const perLayer = meta["per_layer_sparsity"] as Record<string, number>;
      expect(Object.keys(perLayer)).toHaveLength(SHAPE.layers * 7);
      if (format === "sparse-bitmask") {
        const qc = cfg["quantization_config"] as {
          sparsity_config: { format: string; global_sparsity: number };
        };
        expect(qc.sparsity_config.format).toBe("sparse-bitmask");
        expect(qc.sparsity_config.global_sparsity).toBeCloseTo(report.overallSparsity, 6);
        expect(res.globalSparsity).toBeCloseTo(report.overallSparsity, 6);
      }
      expect(await digest(src.files)).toEqual(before);
    },
  );

  it("writes 2:4 weights as sparse-24-bitmask and refuses it for unstructured weights", async () => {
    const { checkpoint } = await randomModel(SHAPE);
    const cal = randomWindows(2, 8, SHAPE.vocab);
    const nm = await prune({ checkpoint, method: "wanda", sparsity: { n: 2, m: 4 }, calibration: cal });
    const out = memoryCheckpointDir("p24");
    await writePrunedCheckpoint(out, {
      model: nm.model,
      source: checkpoint,
      report: nm.report,
      format: "sparse-24-bitmask",
    });
    const back = await readHfCheckpoint(out);
    const name = nm.model.parameterName(1, "down_proj");
    expect(Array.from(await back.readF32(name))).toEqual(
      Array.from(nm.model.getLinearWeight(1, "down_proj")),
    );
    const un = await prune({ checkpoint, method: "magnitude", sparsity: 0.5 });
    const bad = memoryCheckpointDir("bad");
    let err: unknown;
    try {
      await writePrunedCheckpoint(bad, { model: un.model, source: checkpoint, format: "sparse-24-bitmask" });
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "MASK_INVALID")).toBe(true);
    expect(bad.files.size).toBe(0);
  });
});
