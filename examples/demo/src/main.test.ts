import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runDemo } from "./main.ts";

const out = await mkdtemp(join(tmpdir(), "demo-"));
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

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
});
