// The WebGPU backend under @mama-prune/model and @mama-prune/eval on the bundled stories260K model:
// forward pass, perplexity (dense, and pruned with sparse kernels) and calibration statistics must
// agree with the CPU backend.

import { readFile } from "node:fs/promises";
import { perplexity } from "@mama-prune/eval";
import {
  createCpuBackend,
  createLlama2cTokenizer,
  LINEAR_NAMES,
  type LlamaModel,
  loadLlama,
} from "@mama-prune/model";
import {
  encodeSparse24,
  encodeSparseBitmask,
  readLlama2c,
  readLlama2cTokenizer,
} from "@mama-prune/tensor-io";
import { afterAll, describe, expect, it } from "vitest";
import { createWebGpuBackend } from "../src/backend.ts";
import { tryNodeGpu } from "./gpu.ts";

const repo = (p: string): URL => new URL(`../../../${p}`, import.meta.url);
const gpu = await tryNodeGpu();

afterAll(async () => {
  await gpu?.dispose();
});

/** Zero the smallest-|w| half of every linear (magnitude, per matrix), or 2 of every 4 (2:4). */
function pruneModel(model: LlamaModel, how: "50%" | "2:4"): void {
  for (let l = 0; l < model.config.numLayers; l++) {
    for (const name of LINEAR_NAMES) {
      const w = model.getLinearWeight(l, name).slice(); // (out, in)
      if (how === "2:4") {
        for (let g = 0; g < w.length; g += 4) {
          const idx = [0, 1, 2, 3].sort((a, b) => Math.abs(w[g + a]!) - Math.abs(w[g + b]!));
          w[g + idx[0]!] = 0;
          w[g + idx[1]!] = 0;
        }
      } else {
        const order = Array.from(w.keys()).sort((a, b) => Math.abs(w[a]!) - Math.abs(w[b]!));
        for (let i = 0; i < Math.floor(w.length / 2); i++) w[order[i]!] = 0;
      }
      model.setLinearWeight(l, name, w);
    }
  }
}

describe.skipIf(!gpu)("createWebGpuBackend on the bundled stories260K model", async () => {
  const bin = new Uint8Array(await readFile(repo("data/stories260K/stories260K.bin")));
  const tok = createLlama2cTokenizer(
    readLlama2cTokenizer(
      new Uint8Array(await readFile(repo("data/stories260K/tok512.bin"))),
      512,
      "tok512.bin",
    ),
  );
  const text = (await readFile(repo("data/tinystories/tinystories_val.txt"), "utf8")).slice(0, 2000);
  const load = async (backend = createCpuBackend()): Promise<LlamaModel> =>
    loadLlama(await readLlama2c(bin, "stories260K.bin"), { backend });
  const opts = { seqlen: 64, maxWindows: 2, datasetName: "tinystories_val[:2000]" } as const;

  it("gives the CPU backend's perplexity within 1e-3 relative (2 windows × 64 tokens)", async () => {
    const cpu = await perplexity(await load(), tok, text, opts);
    const backend = createWebGpuBackend(gpu!.device);
    const onGpu = await perplexity(await load(backend), tok, text, { ...opts, backendName: backend.name });
    expect(onGpu.windows).toBe(2);
    expect(Math.abs(onGpu.ppl - cpu.ppl) / cpu.ppl).toBeLessThan(1e-3);
    expect(cpu.ppl).toBeGreaterThan(1);
    await backend.dispose();
  });

  it("runs a 50 %-pruned model with sparse-bitmask weights and a 2:4 model with sparse-24-bitmask weights at the dense-zeros perplexity", async () => {
    for (const how of ["50%", "2:4"] as const) {
      const cpuModel = await load();
      pruneModel(cpuModel, how);
      const cpu = await perplexity(cpuModel, tok, text, { ...opts, maxWindows: 1 });
      const backend = createWebGpuBackend(gpu!.device);
      const model = await load(backend);
      pruneModel(model, how);
      for (let l = 0; l < model.config.numLayers; l++) {
        for (const name of LINEAR_NAMES) {
          const w = model.getLinearWeight(l, name);
          const [r, c] = model.linearShape(l, name);
          backend.registerSparseWeight(
            w,
            how === "2:4"
              ? { format: "sparse-24-bitmask", ...encodeSparse24(w, r, c) }
              : { format: "sparse-bitmask", ...encodeSparseBitmask(w, r, c) },
            model.parameterName(l, name),
          );
        }
      }
      const sparse = await perplexity(model, tok, text, { ...opts, maxWindows: 1 });
      expect(Math.abs(sparse.ppl - cpu.ppl) / cpu.ppl).toBeLessThan(1e-3);
      await backend.dispose();
    }
  });

  it("accumulates the calibration statistics of block 0's linears like the CPU backend", async () => {
    const model = await load();
    const cpu = createCpuBackend();
    const backend = createWebGpuBackend(gpu!.device);
    const ids = tok.encode(text, { bos: true }).subarray(0, 64);
    const hidden = model.embed(ids);
    const inputs: { name: string; x: Float32Array; rows: number; cols: number }[] = [];
    await model.runBlock(0, hidden, 1, 64, {
      onLinearInput(name, x, rows, cols) {
        if (name === "q_proj" || name === "down_proj") inputs.push({ name, x: x.slice(), rows, cols });
      },
    });
    expect(inputs.map((i) => i.name)).toEqual(["q_proj", "down_proj"]);
    for (const { x, rows, cols } of inputs) {
      const g1 = new Float64Array(cols * cols);
      const g2 = new Float64Array(cols * cols);
      await cpu.gramAccumulate(x, rows, cols, g1);
      await backend.gramAccumulate(x, rows, cols, g2);
      const s1 = new Float64Array(cols);
      const s2 = new Float64Array(cols);
      await cpu.colSqNormAccumulate(x, rows, cols, s1);
      await backend.colSqNormAccumulate(x, rows, cols, s2);
      let scale = 0;
      for (const v of g1) scale = Math.max(scale, Math.abs(v));
      for (let i = 0; i < g1.length; i++) expect(Math.abs(g1[i]! - g2[i]!)).toBeLessThan(1e-5 * scale);
      for (let j = 0; j < cols; j++) expect(Math.abs(s1[j]! - s2[j]!)).toBeLessThanOrEqual(1e-5 * s1[j]!);
    }
    await backend.dispose();
  });
});
