import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { runDemo } from "./main.ts";

const out = await mkdtemp(join(tmpdir(), "demo-"));
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

const tiny = {
  maxWindows: 2,
  seqlen: 128,
  maxNewTokens: 12,
  nsamples: 4,
  calibrationSeqlen: 128,
  outDir: out,
} as const;

describe("runDemo", () => {
  it("tells a story, then prunes to 50 % with four methods and writes the table and plot (tiny settings)", async () => {
    const lines: string[] = [];
    const r = await runDemo({
      maxWindows: 2,
      seqlen: 128,
      maxNewTokens: 12,
      nsamples: 4,
      calibrationSeqlen: 128,
      outDir: out,
      log: (l) => lines.push(l),
    });
    // WebAssembly SIMD on all cores is the default.
    expect(r.backend).toMatch(/^wasm-simd x\d+$/);
    expect(lines.join("\n")).toContain(`compute backend: ${r.backend}`);
    expect(r.parameters).toBe(260_032);
    expect(r.sample.startsWith("Once upon a time, there was a little girl")).toBe(true);
    expect(r.ppl).toBeGreaterThan(1.5);
    expect(r.ppl).toBeLessThan(12);
    expect(r.methods).toEqual(["MAMA", "Wanda", "SparseGPT", "Magnitude"]);
    const [mama, wanda, sparsegpt, magnitude] = r.pruned;
    // Pruning half the weights costs perplexity, and the calibrated methods lose less than magnitude.
    for (const v of r.pruned) expect(v).toBeGreaterThan(r.ppl);
    for (const v of [mama!, wanda!, sparsegpt!]) expect(v).toBeLessThan(magnitude!);
    const text = lines.join("\n");
    expect(text).toContain("| Pruning level | MAMA | Wanda | SparseGPT | Magnitude |");
    expect(text).toContain(`plot:   ${join(out, "demo.svg")}`);
    expect(await readFile(join(out, "demo.svg"), "utf8")).toContain('<g class="series" data-column="MAMA">');
  });

  it("falls back to the plain JS backend without WebAssembly SIMD, with the same dense perplexity", async () => {
    const wasm = await runDemo({ ...tiny, maxNewTokens: 2, log: () => {} });
    vi.spyOn(WebAssembly, "validate").mockReturnValue(false);
    const js = await runDemo({ ...tiny, maxNewTokens: 2, log: () => {} });
    expect(wasm.backend).toMatch(/^wasm-simd x\d+$/);
    expect(js.backend).toBe("js");
    expect(Math.abs(js.ppl - wasm.ppl) / js.ppl).toBeLessThan(1e-5);
    for (const [i, v] of js.pruned.entries()) {
      expect(Math.abs(v - (wasm.pruned[i] ?? 0)) / v, js.methods[i]).toBeLessThan(1e-3);
    }
  });
});
