import { isPruneError, type PruneErrorCode } from "@mama-prune/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cachingTokenizer,
  cutWindows,
  type PerplexityModel,
  type PerplexityOptions,
  type PerplexityTokenizer,
  perplexity,
} from "./perplexity.ts";

// ---- Fakes with known likelihoods ----

const BOS = 1;

/** Character-level tokenizer: id = code point + 10; BOS = 1 (or none with `hasBos` false). */
function charTokenizer(hasBos = true): PerplexityTokenizer & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    bosId: hasBos ? BOS : undefined,
    calls,
    encode(text: string, options?: { bos?: boolean; eos?: boolean }): Int32Array {
      calls.push(options);
      return Int32Array.from(Array.from(text, (c) => c.codePointAt(0)! + 10));
    },
  };
}

/** A model that predicts uniformly over `vocab` tokens: NLL = ln(vocab) for every token. */
function uniformModel(vocab: number): PerplexityModel {
  return {
    async nll(window: Int32Array): Promise<Float64Array> {
      return new Float64Array(window.length - 1).fill(Math.log(vocab));
    },
  };
}

/** A model whose NLL is a given function of (target token, position) and that records its windows. */
function recordingModel(
  f: (target: number, pos: number) => number,
): PerplexityModel & { windows: number[][] } {
  const windows: number[][] = [];
  return {
    windows,
    async nll(window: Int32Array): Promise<Float64Array> {
      windows.push(Array.from(window));
      const out = new Float64Array(window.length - 1); // (seqlen - 1,)
      for (let i = 1; i < window.length; i++) out[i - 1] = f(window[i]!, i);
      return out;
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: PruneErrorCode }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: PruneErrorCode };
  }
  throw new Error("expected a rejection");
}

const TEXT_23 = "abcdefghijklmnopqrstuvw"; // 23 chars → 23 tokens (+ BOS = 24)

// ---- Tests ----

describe("perplexity", () => {
  it("gives exactly the vocabulary size for a uniform model", async () => {
    for (const vocab of [2, 512, 32000]) {
      const r = await perplexity(uniformModel(vocab), charTokenizer(), TEXT_23, { seqlen: 5 });
      expect(Math.abs(r.ppl - vocab) / vocab).toBeLessThan(1e-13);
      expect(r.meanNll).toBeCloseTo(Math.log(vocab), 14);
    }
  });

  it("averages a position-dependent NLL as computed by hand", async () => {
    // seqlen 4 → positions 1, 2, 3 with NLL 0.5, 1.0, 1.5: mean 1.0 in every window → ppl e.
    const m = recordingModel((_t, pos) => 0.5 * pos);
    const r = await perplexity(m, charTokenizer(), TEXT_23, { seqlen: 4 });
    expect(r.meanNll).toBeCloseTo(1.0, 14);
    expect(r.ppl).toBeCloseTo(Math.E, 13);
  });

  it("cuts one BOS-prefixed stream into non-overlapping windows, drops the remainder and scores seqlen − 1 per window", async () => {
    const m = recordingModel((t) => t / 100);
    const tok = charTokenizer();
    const r = await perplexity(m, tok, TEXT_23, { seqlen: 5 });
    // Stream: [BOS, a..w] = 24 tokens → 4 windows of 5 (20 tokens), 4 tokens dropped.
    const stream = [BOS, ...Array.from(TEXT_23, (c) => c.codePointAt(0)! + 10)];
    expect(m.windows).toEqual([0, 1, 2, 3].map((k) => stream.slice(5 * k, 5 * k + 5)));
    expect(tok.calls).toEqual([{ bos: false, eos: false }]);
    expect(r.windows).toBe(4);
    expect(r.windowsAvailable).toBe(4);
    expect(r.tokensScored).toBe(16);
    expect(r.dataset.tokens).toBe(24);
    // Brute force: every window's tokens 1..4 are scored with NLL = id / 100.
    let sum = 0;
    for (let k = 0; k < 4; k++) for (let i = 1; i < 5; i++) sum += stream[5 * k + i]! / 100;
    expect(r.meanNll).toBeCloseTo(sum / 16, 14);
    expect(r.ppl).toBeCloseTo(Math.exp(sum / 16), 12);
  });

  it("with bosPerWindow, makes each window [BOS] + seqlen − 1 stream tokens and scores every one of them", async () => {
    const m = recordingModel((t) => t / 100);
    const r = await perplexity(m, charTokenizer(), TEXT_23, { seqlen: 5, bosPerWindow: true });
    // Stream: a..w (23 tokens, no BOS) → 5 windows of 4 stream tokens (20), 3 dropped.
    const stream = Array.from(TEXT_23, (c) => c.codePointAt(0)! + 10);
    expect(m.windows).toEqual([0, 1, 2, 3, 4].map((k) => [BOS, ...stream.slice(4 * k, 4 * k + 4)]));
    expect(r.windows).toBe(5);
    expect(r.tokensScored).toBe(20);
    expect(r.dataset.tokens).toBe(23);
    expect(r.bosPerWindow).toBe(true);
    const mean = stream.slice(0, 20).reduce((s, t) => s + t / 100, 0) / 20;
    expect(r.meanNll).toBeCloseTo(mean, 14);
  });

  it("adds no BOS when the tokenizer has none", async () => {
    const m = recordingModel(() => 1);
    const r = await perplexity(m, charTokenizer(false), TEXT_23, { seqlen: 5 });
    expect(m.windows[0]).toEqual([97, 98, 99, 100, 101].map((c) => c + 10));
    expect(r.dataset.tokens).toBe(23);
    expect(r.windows).toBe(4);
    expect(r.protocol).toContain("no BOS (tokenizer has none)");
  });

  it("scores only the first maxWindows windows, and all of them when maxWindows is larger", async () => {
    const m = recordingModel((_t, pos) => pos);
    const r = await perplexity(m, charTokenizer(), TEXT_23, { seqlen: 5, maxWindows: 2 });
    expect(r.windows).toBe(2);
    expect(r.windowsAvailable).toBe(4);
    expect(r.tokensScored).toBe(8);
    expect(m.windows.length).toBe(2);
    expect(m.windows[1]![0]).toBe("e".codePointAt(0)! + 10); // stream [BOS, a, b, c, d | e, ...]
    const all = await perplexity(uniformModel(7), charTokenizer(), TEXT_23, { seqlen: 5, maxWindows: 100 });
    expect(all.windows).toBe(4);
  });

  it("reports progress as (0, total) then once per window", async () => {
    const calls: [number, number][] = [];
    await perplexity(uniformModel(3), charTokenizer(), TEXT_23, {
      seqlen: 6,
      onProgress: (done, total) => calls.push([done, total]),
    });
    expect(calls).toEqual([
      [0, 4],
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 4],
    ]);
  });

  it("accepts a window of exactly the whole stream and a Float32Array NLL", async () => {
    const model: PerplexityModel = {
      async nll(w: Int32Array): Promise<Float32Array> {
        return new Float32Array(w.length - 1).fill(Math.log(4));
      },
    };
    const r = await perplexity(model, charTokenizer(), TEXT_23, { seqlen: 24 });
    expect(r.windows).toBe(1);
    expect(r.tokensScored).toBe(23);
    expect(r.ppl).toBeCloseTo(4, 5);
  });

  it("keeps the float64 mean exact over many small NLLs", async () => {
    const text = "x".repeat(20_000);
    const r = await perplexity(
      recordingModel(() => 0.1),
      charTokenizer(),
      text,
      { seqlen: 101 },
    );
    expect(r.tokensScored).toBe(198 * 100);
    expect(Math.abs(r.meanNll - 0.1)).toBeLessThan(1e-15);
  });

  it("records the dataset checksum, sizes, model, backend, wall time and a one-line protocol", async () => {
    let now = 1000;
    const r = await perplexity(uniformModel(10), charTokenizer(), "abc", {
      seqlen: 2,
      datasetName: "tiny",
      modelChecksum: "sha256:feed",
      backendName: "cpu-naive",
      clock: () => (now += 250),
    });
    // sha256("abc"), FIPS 180-2 test vector.
    expect(r.dataset).toEqual({
      name: "tiny",
      sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      chars: 3,
      bytes: 3,
      tokens: 4,
    });
    expect(r.model).toEqual({ checksum: "sha256:feed" });
    expect(r.backend).toBe("cpu-naive");
    expect(r.wallTimeMs).toBe(250);
    expect(r.seqlen).toBe(2);
    expect(r.protocol).not.toContain("\n");
    expect(r.protocol).toMatchInlineSnapshot(
      `"ppl 10.0000 = exp(mean NLL 2.302585) on tiny (sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad, 3 chars, 4 tokens as one stream, BOS=1 once at the stream start): 2 of 2 non-overlapping windows of seqlen 2, remainder dropped, 2 tokens scored (seqlen − 1 per window, no cross-window context), float64 mean; model sha256:feed; backend cpu-naive; 250 ms"`,
    );
  });

  it("counts code points and UTF-8 bytes of non-ASCII text", async () => {
    const r = await perplexity(uniformModel(10), charTokenizer(), "héllo😀", { seqlen: 2 });
    expect(r.dataset.chars).toBe(6);
    expect(r.dataset.bytes).toBe(10);
    expect(r.model.checksum).toBeNull();
    expect(r.dataset.name).toBe("unnamed");
  });

  it("rejects with ABORTED when the signal has fired, before or between windows", async () => {
    const before = new AbortController();
    before.abort();
    const m0 = recordingModel(() => 1);
    const e0 = await rejection(
      perplexity(m0, charTokenizer(), TEXT_23, { seqlen: 5, signal: before.signal }),
    );
    expect(isPruneError(e0, "ABORTED")).toBe(true);
    expect(m0.windows.length).toBe(0);

    const mid = new AbortController();
    const m = recordingModel(() => 1);
    const e = await rejection(
      perplexity(m, charTokenizer(), TEXT_23, {
        seqlen: 5,
        signal: mid.signal,
        onProgress: (done) => {
          if (done === 2) mid.abort();
        },
      }),
    );
    expect(isPruneError(e, "ABORTED")).toBe(true);
    expect(m.windows.length).toBe(2);
  });

  it("stops promptly when a timer aborts it, although every nll resolves at once", async () => {
    // Each window is 4 ms of synchronous work, as a JS-backend forward pass: 400 windows = 1.6 s.
    const windows: number[] = [];
    const busy: PerplexityModel = {
      async nll(window: Int32Array, options?: { signal?: AbortSignal }): Promise<Float64Array> {
        windows.push(window.length);
        expect(options?.signal).toBeDefined(); // passed on, so a model can stop inside a window
        const end = performance.now() + 4;
        while (performance.now() < end) {
          /* busy */
        }
        return new Float64Array(window.length - 1).fill(1);
      },
    };
    const text = "ab".repeat(800); // 1,600 tokens: 400 windows of 4
    const ac = new AbortController();
    let abortedAt = Number.NaN;
    setTimeout(() => {
      abortedAt = performance.now();
      ac.abort();
    }, 40);
    const e = await rejection(perplexity(busy, charTokenizer(), text, { seqlen: 4, signal: ac.signal }));
    const latency = performance.now() - abortedAt;
    expect(isPruneError(e, "ABORTED")).toBe(true);
    expect(e.message).toMatch(/^perplexity \(window \d+\/400\): aborted$/);
    expect(windows.length).toBeLessThan(400);
    expect(latency).toBeLessThan(500); // at most one 50 ms stretch (plus timer slack)
  });

  it("rejects bad options with EVAL_INVALID naming the option", async () => {
    const cases: [Partial<PerplexityOptions>, RegExp][] = [
      [{}, /options\.seqlen/],
      [{ seqlen: 1 }, /options\.seqlen .*got 1\./],
      [{ seqlen: 0 }, /options\.seqlen/],
      [{ seqlen: 2.5 }, /options\.seqlen/],
      [{ seqlen: Number.NaN }, /options\.seqlen/],
      [{ seqlen: 5, maxWindows: 0 }, /options\.maxWindows .*got 0\./],
      [{ seqlen: 5, maxWindows: 1.5 }, /options\.maxWindows/],
    ];
    for (const [options, pattern] of cases) {
      const e = await rejection(
        perplexity(uniformModel(2), charTokenizer(), TEXT_23, options as PerplexityOptions),
      );
      expect(isPruneError(e, "EVAL_INVALID")).toBe(true);
      expect(e.message).toMatch(pattern);
    }
  });

  it("rejects a text shorter than one window, naming seqlen and the token count", async () => {
    const e = await rejection(
      perplexity(uniformModel(2), charTokenizer(), TEXT_23, { seqlen: 25, datasetName: "short.txt" }),
    );
    expect(isPruneError(e, "EVAL_INVALID")).toBe(true);
    expect(e.message).toMatchInlineSnapshot(
      `"perplexity: text "short.txt" is shorter than one window of options.seqlen = 25. Expected ≥ 25 stream tokens, got 24."`,
    );
    const empty = await rejection(perplexity(uniformModel(2), charTokenizer(), "", { seqlen: 2 }));
    expect(isPruneError(empty, "EVAL_INVALID")).toBe(true);
  });

  it("rejects a seqlen above the model's declared context length", async () => {
    const model = { ...uniformModel(2), config: { maxPositionEmbeddings: 4 } };
    const e = await rejection(perplexity(model, charTokenizer(), TEXT_23, { seqlen: 5 }));
    expect(isPruneError(e, "EVAL_INVALID")).toBe(true);
    expect(e.message).toMatch(/options\.seqlen .*Expected seqlen ≤ 4, got 5\./);
    const ok = await perplexity(model, charTokenizer(), TEXT_23, { seqlen: 4 });
    expect(ok.windows).toBe(6);
  });

  it("rejects bosPerWindow with a tokenizer that has no BOS", async () => {
    const e = await rejection(
      perplexity(uniformModel(2), charTokenizer(false), TEXT_23, { seqlen: 5, bosPerWindow: true }),
    );
    expect(isPruneError(e, "EVAL_INVALID")).toBe(true);
    expect(e.message).toMatch(/options\.bosPerWindow/);
  });

  it("rejects NaN, infinite, negative and wrongly sized NLLs from the model", async () => {
    const bad: [(w: Int32Array) => Float64Array, RegExp][] = [
      [(w) => new Float64Array(w.length - 1).fill(Number.NaN), /got NaN\./],
      [(w) => new Float64Array(w.length - 1).fill(Number.POSITIVE_INFINITY), /got Infinity\./],
      [(w) => new Float64Array(w.length - 1).fill(-0.5), /got -0\.5\./],
      [(w) => new Float64Array(w.length), /Expected 4 \(seqlen − 1\), got 5\./],
    ];
    for (const [nll, pattern] of bad) {
      const e = await rejection(
        perplexity({ nll: async (w) => nll(w) }, charTokenizer(), TEXT_23, { seqlen: 5 }),
      );
      expect(isPruneError(e, "EVAL_INVALID")).toBe(true);
      expect(e.message).toMatch(pattern);
    }
  });

  it("rejects a tokenizer that returns non-token values", async () => {
    const tok: PerplexityTokenizer = { bosId: 1, encode: () => [3, -1, 4] };
    const e = await rejection(perplexity(uniformModel(2), tok, "abc", { seqlen: 2 }));
    expect(isPruneError(e, "EVAL_INVALID")).toBe(true);
  });
});

describe("cutWindows", () => {
  it("returns windows that are views of the stream without bosPerWindow and rejects out-of-range indices", () => {
    const w = cutWindows(charTokenizer(), TEXT_23, 5, false);
    expect(w.available).toBe(4);
    expect(w.window(0).buffer).toBe(w.stream.buffer);
    expect(() => w.window(4)).toThrow(RangeError);
  });
});

describe("cutWindows (property)", () => {
  it("tiles a prefix of the stream exactly, with floor(n / stride) windows and less than one stride left over", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 0, maxLength: 200 }),
        fc.integer({ min: 2, max: 40 }),
        fc.boolean(),
        fc.boolean(),
        (text, seqlen, bosPerWindow, hasBos) => {
          fc.pre(hasBos || !bosPerWindow);
          const tok = charTokenizer(hasBos);
          const w = cutWindows(tok, text, seqlen, bosPerWindow);
          const body = Array.from(text, (c) => c.codePointAt(0)! + 10);
          const stream = !bosPerWindow && hasBos ? [BOS, ...body] : body;
          expect(Array.from(w.stream)).toEqual(stream);
          const stride = bosPerWindow ? seqlen - 1 : seqlen;
          expect(w.available).toBe(Math.floor(stream.length / stride));
          const covered: number[] = [];
          for (let k = 0; k < w.available; k++) {
            const win = Array.from(w.window(k));
            expect(win.length).toBe(seqlen);
            if (bosPerWindow) expect(win[0]).toBe(BOS);
            covered.push(...(bosPerWindow ? win.slice(1) : win));
          }
          expect(covered).toEqual(stream.slice(0, w.available * stride));
          expect(stream.length - covered.length).toBeLessThan(stride);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });
});

describe("cachingTokenizer", () => {
  it("encodes each distinct (text, options) once and returns the same ids", () => {
    let calls = 0;
    const inner = {
      bosId: 1,
      encode: (t: string) => {
        calls++;
        return Int32Array.from(t, (c) => c.charCodeAt(0));
      },
    };
    const tok = cachingTokenizer(inner);
    const a = tok.encode("abc", { bos: false });
    const b = tok.encode("abc", { bos: false });
    tok.encode("abc", { bos: true });
    expect(b).toBe(a);
    expect(Array.from(a)).toEqual([97, 98, 99]);
    expect(calls).toBe(2);
    expect(tok.bosId).toBe(1);
  });
});
