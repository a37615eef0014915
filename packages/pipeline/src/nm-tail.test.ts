// N:M on widths that are not a multiple of M (issue 14): the tail rule end to end on the bundled
// model, and storage formats that cannot hold the result refused before any work.
import { readFile } from "node:fs/promises";
import { createRng, isPruneError } from "@mama-prune/core";
import { LINEAR_NAMES, parseLlamaConfig } from "@mama-prune/model";
import { memoryCheckpointDir, readLlama2c } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { randomModel, randomWindows } from "../test/fixtures/random-model.ts";
import { pruneMetadata } from "./checkpoint.ts";
import { checkOutputFormat } from "./output-format.ts";
import { prune } from "./prune.ts";
import { pruneToCheckpoint } from "./stream.ts";

const bundled = async (): Promise<Awaited<ReturnType<typeof readLlama2c>>> =>
  readLlama2c(
    new Uint8Array(await readFile(new URL("../../../data/stories260K/stories260K.bin", import.meta.url))),
    "stories260K.bin",
  );

function calibration(vocab: number): { tokens: Int32Array; nsamples: number; seqlen: number } {
  const rng = createRng(3);
  return { tokens: Int32Array.from({ length: 2 * 32 }, () => rng.int(vocab)), nsamples: 2, seqlen: 32 };
}

/** Zeros of `w` in columns [from, to) of row r of a (rows, cols) matrix. */
function zerosIn(w: Float32Array, cols: number, r: number, from: number, to: number): number {
  let z = 0;
  for (let j = from; j < to; j++) if (w[r * cols + j] === 0) z++;
  return z;
}

describe("N:M with a tail group shorter than M", () => {
  it.each(["wanda", "sparsegpt"] as const)(
    "prunes every linear of the bundled model at 4:8 with exact per-group counts (%s)",
    async (method) => {
      const checkpoint = await bundled();
      const vocab = parseLlamaConfig(checkpoint.config, "stories260K").vocabSize;
      const { model, report } = await prune({
        checkpoint,
        method,
        sparsity: { n: 4, m: 8 },
        calibration: calibration(vocab),
      });
      const L = model.config.numLayers;
      expect(report.linears).toHaveLength(L * LINEAR_NAMES.length);
      const widths = new Set<number>();
      for (const lin of report.linears) {
        const [rows, cols] = lin.shape;
        widths.add(cols);
        const w = model.getLinearWeight(lin.layer, lin.linear);
        const tail = cols % 8;
        expect(lin.nmTailColumns, lin.name).toBe(tail);
        for (let r = 0; r < rows; r++) {
          for (let g = 0; g + 8 <= cols; g += 8) expect(zerosIn(w, cols, r, g, g + 8)).toBe(4);
          // The tail of t = 4 columns loses floor(4·4/8) = 2.
          if (tail > 0) expect(zerosIn(w, cols, r, cols - tail, cols)).toBe(Math.floor((4 * tail) / 8));
        }
        // Measured: 4 per 8 plus 2 of the 4-column tail = exactly half of 64 and of 172.
        expect(lin.zeros).toBe(rows * (Math.floor(cols / 8) * 4 + Math.floor((4 * tail) / 8)));
        expect(lin.sparsity).toBe(lin.zeros / (rows * cols));
      }
      expect([...widths].sort((a, b) => a - b)).toEqual([64, 172]);
      expect(report.sparsity).toBe("4:8");
      expect(report.overallSparsity).toBe(0.5);
      expect(report.warnings.filter((m) => m.includes("tail group"))).toEqual([
        "prune: 4:8 on down_proj [64, 172] of every block: the last 4 input columns of each row form a tail group shorter than 8, pruned at floor(4·4/8) = 2; 86 of 172 per row (50.00 %).",
      ]);
      const meta = pruneMetadata(report);
      expect(meta["nm_tail_columns"]).toEqual(
        Object.fromEntries(
          Array.from({ length: L }, (_, l) => [`model.layers.${l}.mlp.down_proj.weight`, 4]),
        ),
      );
    },
  );

  it("changes nothing for 2:4 on the bundled model: no tail, no warning, no metadata key", async () => {
    const checkpoint = await bundled();
    const vocab = parseLlamaConfig(checkpoint.config, "stories260K").vocabSize;
    const { report } = await prune({
      checkpoint,
      method: "wanda",
      sparsity: { n: 2, m: 4 },
      calibration: calibration(vocab),
    });
    expect(report.linears.every((l) => l.nmTailColumns === 0 && l.sparsity === 0.5)).toBe(true);
    expect(report.warnings).toEqual([]);
    expect(pruneMetadata(report)).not.toHaveProperty("nm_tail_columns");
    // Unstructured runs carry no N:M field at all.
    const un = await prune({ checkpoint, method: "magnitude", sparsity: 0.5 });
    expect(un.report.linears.some((l) => "nmTailColumns" in l)).toBe(false);
  });
});

describe("checkOutputFormat", () => {
  const cfg = (intermediate: number): ReturnType<typeof parseLlamaConfig> =>
    parseLlamaConfig(
      {
        architectures: ["LlamaForCausalLM"],
        hidden_size: 16,
        intermediate_size: intermediate,
        num_hidden_layers: 1,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        vocab_size: 40,
        max_position_embeddings: 64,
      },
      "cfg",
    );
  const message = (f: () => void): string => {
    try {
      f();
    } catch (e) {
      return isPruneError(e) ? `${e.code}: ${e.message}` : String(e);
    }
    return "no error";
  };

  it("accepts every sparsity for dense and sparse-bitmask, and 2:4 / 3:4 on widths divisible by 4 for sparse-24", () => {
    for (const format of ["dense", "sparse-bitmask"] as const) {
      for (const s of [0.5, { n: 4, m: 8 }, { n: 2, m: 4 }]) {
        expect(message(() => checkOutputFormat(format, s, cfg(30)))).toBe("no error");
      }
    }
    expect(message(() => checkOutputFormat("sparse-24-bitmask", { n: 2, m: 4 }, cfg(32)))).toBe("no error");
    expect(message(() => checkOutputFormat("sparse-24-bitmask", { n: 3, m: 4 }, cfg(32)))).toBe("no error");
  });

  it("refuses sparse-24 for anything but N:4 with N ≥ 2, and for a width not divisible by 4", () => {
    expect(message(() => checkOutputFormat("sparse-24-bitmask", { n: 4, m: 8 }, cfg(32), "--format"))).toBe(
      "SPARSITY_INVALID: --format: output format sparse-24-bitmask stores at most 2 non-zeros in every 4 consecutive inputs. Expected sparsity 2:4 (or 3:4), got 4:8 (use format dense or sparse-bitmask).",
    );
    expect(message(() => checkOutputFormat("sparse-24-bitmask", 0.5, cfg(32)))).toMatch(
      /^SPARSITY_INVALID: prune: .*Expected sparsity 2:4 \(or 3:4\), got 0\.5/,
    );
    expect(message(() => checkOutputFormat("sparse-24-bitmask", { n: 1, m: 4 }, cfg(32)))).toMatch(/got 1:4/);
    expect(message(() => checkOutputFormat("sparse-24-bitmask", { n: 2, m: 4 }, cfg(30)))).toBe(
      "SPARSITY_INVALID: prune: output format sparse-24-bitmask needs every block linear's input width divisible by 4. Expected down_proj width % 4 = 0, got 30 (a 2-column tail group; use format dense or sparse-bitmask).",
    );
  });

  it.each([
    ["4:8 on widths 16 and 32", { n: 4, m: 8 }, 32, /got 4:8/],
    ["2:4 on an intermediate width of 30", { n: 2, m: 4 }, 30, /down_proj width % 4 = 0, got 30/],
  ] as const)("pruneToCheckpoint refuses sparse-24 for %s before any work", async (_, sparsity, I, re) => {
    const { checkpoint } = await randomModel({ hidden: 16, intermediate: I, layers: 2, vocab: 40 });
    const out = memoryCheckpointDir("p24");
    const progress: string[] = [];
    let err: unknown;
    try {
      await pruneToCheckpoint(out, {
        checkpoint,
        method: "wanda",
        sparsity,
        calibration: randomWindows(2, 8, 40),
        format: "sparse-24-bitmask",
        onProgress: (p) => progress.push(p.stage),
      });
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "SPARSITY_INVALID"), String(err)).toBe(true);
    expect((err as Error).message).toMatch(
      /^pruneToCheckpoint: option format: output format sparse-24-bitmask/,
    );
    expect((err as Error).message).toMatch(re);
    expect(progress).toEqual([]); // nothing loaded, calibrated or pruned
    expect(out.files.size).toBe(0);
  });
});
