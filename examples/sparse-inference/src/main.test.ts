import { describe, expect, it } from "vitest";
import { runSparseInference } from "./main.ts";

let hasAdapter = true;
try {
  const { createNodeGpu } = await import("@mama-prune/kernels-webgpu/node");
  await (await createNodeGpu()).dispose();
} catch {
  hasAdapter = false;
}

describe.skipIf(!hasAdapter)("runSparseInference", () => {
  it("runs the saved sparse-bitmask checkpoint with sparse kernels at the dense-zeros perplexity", async () => {
    const lines: string[] = [];
    const r = await runSparseInference({
      seqlen: 32,
      windows: 1,
      decodeTokens: 4,
      sparsity: 0.5,
      log: (l) => lines.push(l),
    });
    expect(r.sparsity).toBeGreaterThanOrEqual(0.5);
    expect(Math.abs(r.pplSparse - r.pplDense) / r.pplDense).toBeLessThan(1e-3);
    expect(r.pplDense).toBeGreaterThan(1);
    expect(r.decodeTokensPerSecond.sparse).toBeGreaterThan(0);
    expect(lines.some((l) => l.startsWith("sparse kernels: ppl"))).toBe(true);
  });
});
