import { describe, expect, it } from "vitest";
import { runDemo } from "./main.ts";

describe("runDemo", () => {
  it("loads the bundled model, tells a story and measures a plausible perplexity", async () => {
    const lines: string[] = [];
    const r = await runDemo({ maxWindows: 2, seqlen: 64, maxNewTokens: 12, log: (l) => lines.push(l) });
    expect(r.parameters).toBe(260_032);
    expect(r.sample.startsWith("Once upon a time, there was a little girl")).toBe(true);
    expect(r.ppl).toBeGreaterThan(1.5);
    expect(r.ppl).toBeLessThan(12);
    expect(lines.some((l) => l.includes("non-overlapping windows of seqlen 64"))).toBe(true);
  });
});
