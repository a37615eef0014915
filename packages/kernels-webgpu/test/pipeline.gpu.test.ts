// Calibration on the GPU end to end: @mama-prune/pipeline's sequential Wanda and SparseGPT on the
// bundled model with the WebGPU backend must give the CPU backend's result (same sparsity, nearly
// the same masks and weights, the same pruned perplexity).

import { readFile } from "node:fs/promises";
import { perplexity } from "@mama-prune/eval";
import { createCpuBackend, createLlama2cTokenizer, LINEAR_NAMES, loadLlama } from "@mama-prune/model";
import { prune } from "@mama-prune/pipeline";
import { readLlama2c, readLlama2cTokenizer } from "@mama-prune/tensor-io";
import { afterAll, describe, expect, it } from "vitest";
import { createWebGpuBackend } from "../src/backend.ts";
import { tryNodeGpu } from "./gpu.ts";

const repo = (p: string): URL => new URL(`../../../${p}`, import.meta.url);
const gpu = await tryNodeGpu();

afterAll(async () => {
  await gpu?.dispose();
});

describe.skipIf(!gpu)("createWebGpuBackend under @mama-prune/pipeline", async () => {
  const bin = new Uint8Array(await readFile(repo("data/stories260K/stories260K.bin")));
  const tok = createLlama2cTokenizer(
    readLlama2cTokenizer(
      new Uint8Array(await readFile(repo("data/stories260K/tok512.bin"))),
      512,
      "tok512.bin",
    ),
  );
  const text = (await readFile(repo("data/tinystories/tinystories_val.txt"), "utf8")).slice(0, 3000);
  const ids = tok.encode(text, { bos: true });
  const calibration = { tokens: Int32Array.from(ids.subarray(0, 64)), nsamples: 2, seqlen: 32 };

  it.each(["wanda", "sparsegpt"] as const)(
    "prunes with %s statistics from the GPU like the CPU backend",
    async (method) => {
      const run = async (backend = createCpuBackend()) =>
        prune({
          model: await loadLlama(await readLlama2c(bin, "stories260K.bin"), { backend }),
          method,
          sparsity: 0.5,
          calibration,
        });
      const cpu = await run();
      const backend = createWebGpuBackend(gpu!.device);
      const onGpu = await run(backend);
      expect(onGpu.report.backend).toBe(backend.name);
      expect(onGpu.report.overallSparsity).toBe(cpu.report.overallSparsity);
      let differ = 0;
      let total = 0;
      for (let l = 0; l < cpu.model.config.numLayers; l++) {
        for (const name of LINEAR_NAMES) {
          const a = cpu.model.getLinearWeight(l, name);
          const b = onGpu.model.getLinearWeight(l, name);
          for (let i = 0; i < a.length; i++) {
            if ((a[i] === 0) !== (b[i] === 0)) differ++;
          }
          total += a.length;
        }
      }
      // float32 statistics could flip near-tied scores (none flipped on SwiftShader); anything
      // systematic would flip many.
      expect(differ / total).toBeLessThan(1e-3);
      const opts = { seqlen: 64, maxWindows: 1 } as const;
      const pc = await perplexity(cpu.model, tok, text, opts);
      const pg = await perplexity(onGpu.model, tok, text, opts);
      expect(Math.abs(pg.ppl - pc.ppl) / pc.ppl).toBeLessThan(1e-3);
      await backend.dispose();
    },
  );
});
