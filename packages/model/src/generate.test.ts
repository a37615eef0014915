import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { loadBundled } from "../test/fixtures/bundled.ts";
import { generate } from "./generate.ts";

const { model, tokenizer } = await loadBundled();

// llama2.c doc/stories260K.md (and data/stories260K/PROVENANCE.md): greedy "Once upon a time".
const DOCUMENTED =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.";

describe("generate", () => {
  it("greedily continues 'Once upon a time' with the story documented for stories260K", async () => {
    const r = await generate(model, tokenizer, "Once upon a time", { maxNewTokens: 60 });
    expect(r.promptTokens).toEqual([1, 403, 407, 261, 378]);
    // Checked by eye against the documented text, then pinned token by token.
    expect(r.tokens).toEqual([
      432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411,
      322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426, 338, 391,
      266, 267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415, 426, 13, 438, 310,
    ]);
    expect(r.text).toBe(`${DOCUMENTED}\nLily`);
    expect(r.text.startsWith("Once upon a time") && r.completion.startsWith(", there was")).toBe(true);
  });

  it("is deterministic with a seed under top-p sampling, and the seed matters", async () => {
    const opts = { maxNewTokens: 30, temperature: 1, topP: 0.9 };
    const a = await generate(model, tokenizer, "Once upon a time", { ...opts, seed: 42 });
    const b = await generate(model, tokenizer, "Once upon a time", { ...opts, seed: 42 });
    expect(b.tokens).toEqual(a.tokens);
    expect(a.tokens.length).toBe(30);
    const others = await Promise.all(
      [1, 2, 3].map((seed) => generate(model, tokenizer, "Once upon a time", { ...opts, seed })),
    );
    expect(others.some((o) => o.tokens.join() !== a.tokens.join())).toBe(true);
  });

  it("samples only from the nucleus: a tiny topP is greedy", async () => {
    const greedy = await generate(model, tokenizer, "Once upon a time", { maxNewTokens: 20 });
    const nucleus = await generate(model, tokenizer, "Once upon a time", {
      maxNewTokens: 20,
      temperature: 1,
      topP: 1e-6,
      seed: 7,
    });
    expect(nucleus.tokens).toEqual(greedy.tokens);
  });

  it("returns the prompt alone for maxNewTokens 0 and validates options", async () => {
    const r = await generate(model, tokenizer, "Once upon a time", { maxNewTokens: 0 });
    expect([r.text, r.tokens.length]).toEqual(["Once upon a time", 0]);
    await expect(generate(model, tokenizer, "x", { maxNewTokens: -1 })).rejects.toThrow(RangeError);
    await expect(generate(model, tokenizer, "x", { maxNewTokens: 1, topP: 0 })).rejects.toThrow(/topP/);
    await expect(generate(model, tokenizer, "x", { maxNewTokens: 1, temperature: -1 })).rejects.toThrow(
      /temperature/,
    );
  });

  it("stops with ABORTED when the signal fires", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(
      generate(model, tokenizer, "Once", { maxNewTokens: 5, signal: ac.signal }),
    ).rejects.toSatisfy((e: unknown) => isPruneError(e, "ABORTED"));
  });
});
