// stories260K with the wasm backend's fused causal attention: the dense and a Wanda-pruned model keep
// the perplexities of main's per-head QKᵀ/P·V matmul path (the values below were computed on main's
// code path at 46778b4, before the fused kernel existed), to ≥ 7 significant digits — in fact bit for bit, which
// is also checked against the matmul path run here.
import { readFile } from "node:fs/promises";
import { isWasmSimdSupported } from "@mama-prune/compute-wasm";
import { createWasmBackendNode } from "@mama-prune/compute-wasm/node";
import type { ComputeBackend } from "@mama-prune/core";
import { cutWindows, loadEvalText, perplexity } from "@mama-prune/eval";
import { createLlama2cTokenizer, loadLlama } from "@mama-prune/model";
import { readLlama2c, readLlama2cTokenizer } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { splitCalibrationText } from "./calibration.ts";
import { prune } from "./prune.ts";

const repo = (p: string): URL => new URL(`../../../${p}`, import.meta.url);

/** main's perplexities (wasm backend, backend attention as QKᵀ/P·V matmuls), evaluation split, 16 × 256. */
const MAIN_DENSE_PPL = 3.8961178174247535;
/** The same after Wanda 0.5 with 8 × 256 calibration windows of the calibration split. */
const MAIN_WANDA_PPL = 16.94733204801475;

/** The backend without its fused attention: the model then takes main's per-head matmul path. */
function matmulOnly(b: ComputeBackend): ComputeBackend {
  return {
    name: `${b.name} (matmul path)`,
    matmulTransB: b.matmulTransB.bind(b),
    gramAccumulate: b.gramAccumulate.bind(b),
    colSqNormAccumulate: b.colSqNormAccumulate.bind(b),
    invalidate: b.invalidate.bind(b),
  };
}

const sigDigitsEqual = (a: number, b: number): boolean => Math.abs(a - b) / Math.abs(b) < 5e-8;

describe.skipIf(!isWasmSimdSupported())("stories260K with the fused wasm attention", () => {
  it("keeps main's dense and Wanda-pruned perplexities (16 × 256 evaluation windows)", async () => {
    const stories = await readLlama2c(
      new Uint8Array(await readFile(repo("data/stories260K/stories260K.bin"))),
      "stories260K.bin",
    );
    const tokenizer = createLlama2cTokenizer(
      readLlama2cTokenizer(
        new Uint8Array(await readFile(repo("data/stories260K/tok512.bin"))),
        512,
        "tok512.bin",
      ),
    );
    const raw = await readFile(repo("data/tinystories/tinystories_val.txt"), "utf8");
    const { calibration, evaluation } = splitCalibrationText(raw);
    const evalText = loadEvalText(evaluation, { format: "plain" });
    const calWindows = cutWindows(tokenizer, calibration, 256, false);
    const tokens = new Int32Array(8 * 256);
    for (let w = 0; w < 8; w++) tokens.set(calWindows.window(w), w * 256);
    const calib = { tokens, nsamples: 8, seqlen: 256 };
    const backend = await createWasmBackendNode({ threads: 2 });
    try {
      const results: Record<string, { dense: number; wanda: number }> = {};
      for (const [label, b] of [
        ["fused", backend],
        ["matmul", matmulOnly(backend)],
      ] as const) {
        const dense = await perplexity(await loadLlama(stories, { backend: b }), tokenizer, evalText, {
          seqlen: 256,
          maxWindows: 16,
        });
        const { model } = await prune({
          checkpoint: stories,
          backend: b,
          method: "wanda",
          sparsity: 0.5,
          calibration: calib,
        });
        const wanda = await perplexity(model, tokenizer, evalText, { seqlen: 256, maxWindows: 16 });
        results[label] = { dense: dense.ppl, wanda: wanda.ppl };
      }
      const fused = results["fused"]!;
      const viaMatmul = results["matmul"]!;
      expect(sigDigitsEqual(fused.dense, MAIN_DENSE_PPL)).toBe(true);
      expect(sigDigitsEqual(fused.wanda, MAIN_WANDA_PPL)).toBe(true);
      expect(fused.dense).toBe(viaMatmul.dense);
      expect(fused.wanda).toBe(viaMatmul.wanda);
      expect(fused.wanda).toBeGreaterThan(fused.dense * 1.01); // the pruned model is a different model
    } finally {
      await backend.dispose();
    }
  }, 120_000);
});
