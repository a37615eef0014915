import { isPruneError } from "@mama-prune/core";
import type { Checkpoint } from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import {
  memoryCheckpoint,
  type RandomLlamaOptions,
  randomLlamaCheckpoint,
} from "../test/fixtures/memory-checkpoint.ts";
import { createCpuBackend } from "./cpu-backend.ts";
import { LINEAR_NAMES, type LinearName, loadLlama } from "./llama.ts";

// ---- A direct float64 implementation, written from the HF modeling code, sharing nothing with llama.ts ----

async function directLogits(ckpt: Checkpoint, tokens: number[]): Promise<Float64Array[]> {
  const c = ckpt.config as Record<string, number | boolean | string | null>;
  const H = c["hidden_size"] as number;
  const nh = c["num_attention_heads"] as number;
  const nkv = c["num_key_value_heads"] as number;
  const hd = (c["head_dim"] as number | undefined) ?? H / nh;
  const L = c["num_hidden_layers"] as number;
  const V = c["vocab_size"] as number;
  const eps = c["rms_norm_eps"] as number;
  const theta = c["rope_theta"] as number;
  const win = (c["sliding_window"] as number | null | undefined) ?? Number.POSITIVE_INFINITY;
  const get = async (n: string): Promise<Float32Array | undefined> =>
    ckpt.has(n) ? ckpt.readF32(n) : undefined;
  const linear = (w: Float32Array, b: Float32Array | undefined, x: number[], out: number): number[] => {
    const inn = x.length;
    const y: number[] = [];
    for (let i = 0; i < out; i++) {
      let s = b ? b[i]! : 0;
      for (let j = 0; j < inn; j++) s += w[i * inn + j]! * x[j]!;
      y.push(s);
    }
    return y;
  };
  const rms = (x: number[], w: Float32Array): number[] => {
    const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
    return x.map((v, i) => (v / Math.sqrt(ms + eps)) * w[i]!);
  };
  const rope = (x: number[], pos: number): number[] => {
    const y = x.slice();
    const half = hd / 2;
    for (let h = 0; h < x.length / hd; h++)
      for (let i = 0; i < half; i++) {
        const a = pos * theta ** (-(2 * i) / hd);
        const x1 = x[h * hd + i]!;
        const x2 = x[h * hd + i + half]!;
        y[h * hd + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
        y[h * hd + i + half] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    return y;
  };
  const emb = (await get("model.embed_tokens.weight"))!;
  let hs = tokens.map((t) => Array.from(emb.subarray(t * H, (t + 1) * H)));
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    const w = async (n: string): Promise<Float32Array> => (await get(`${p}.${n}`))!;
    const xs = hs.map(async (h) => rms(h, await w("input_layernorm.weight")));
    const xn = await Promise.all(xs);
    const qs: number[][] = [];
    const ks: number[][] = [];
    const vs: number[][] = [];
    for (let t = 0; t < xn.length; t++) {
      qs.push(
        rope(
          linear(
            await w("self_attn.q_proj.weight"),
            await get(`${p}.self_attn.q_proj.bias`),
            xn[t]!,
            nh * hd,
          ),
          t,
        ),
      );
      ks.push(
        rope(
          linear(
            await w("self_attn.k_proj.weight"),
            await get(`${p}.self_attn.k_proj.bias`),
            xn[t]!,
            nkv * hd,
          ),
          t,
        ),
      );
      vs.push(
        linear(await w("self_attn.v_proj.weight"), await get(`${p}.self_attn.v_proj.bias`), xn[t]!, nkv * hd),
      );
    }
    const next: number[][] = [];
    for (let t = 0; t < xn.length; t++) {
      const att: number[] = [];
      for (let h = 0; h < nh; h++) {
        const kvh = Math.floor((h * nkv) / nh);
        const js: number[] = [];
        for (let j = 0; j <= t; j++) if (t - j < win) js.push(j);
        const sc = js.map((j) => {
          let s = 0;
          for (let d = 0; d < hd; d++) s += qs[t]![h * hd + d]! * ks[j]![kvh * hd + d]!;
          return s / Math.sqrt(hd);
        });
        const mx = Math.max(...sc);
        const e = sc.map((s) => Math.exp(s - mx));
        const z = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < hd; d++) {
          let s = 0;
          js.forEach((j, idx) => {
            s += (e[idx]! / z) * vs[j]![kvh * hd + d]!;
          });
          att.push(s);
        }
      }
      const o = linear(await w("self_attn.o_proj.weight"), await get(`${p}.self_attn.o_proj.bias`), att, H);
      const h1 = hs[t]!.map((v, i) => v + o[i]!);
      const x2 = rms(h1, await w("post_attention_layernorm.weight"));
      const I = (c["intermediate_size"] as number) ?? 0;
      const g = linear(await w("mlp.gate_proj.weight"), undefined, x2, I);
      const u = linear(await w("mlp.up_proj.weight"), undefined, x2, I);
      const a = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
      const d = linear(await w("mlp.down_proj.weight"), undefined, a, H);
      next.push(h1.map((v, i) => v + d[i]!));
    }
    hs = next;
  }
  const head = c["tie_word_embeddings"] ? emb : (await get("lm_head.weight"))!;
  const fn = (await get("model.norm.weight"))!;
  return hs.map((h) => Float64Array.from(linear(head, undefined, rms(h, fn), V)));
}

function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num = Math.max(num, Math.abs(actual[i]! - expected[i]!));
    den = Math.max(den, Math.abs(expected[i]!));
  }
  return num / den;
}

const TOKENS = [3, 17, 0, 29, 5, 5, 11, 30, 2];

async function expectMatchesDirect(opts: RandomLlamaOptions, tokens: number[] = TOKENS): Promise<void> {
  const ckpt = randomLlamaCheckpoint(opts);
  const model = await loadLlama(ckpt);
  const logits = await model.forward(Int32Array.from(tokens), 1, tokens.length);
  const ref = await directLogits(ckpt, tokens);
  const V = model.config.vocabSize;
  expect(logits.length).toBe(tokens.length * V);
  for (let t = 0; t < tokens.length; t++) {
    expect(relErr(logits.subarray(t * V, (t + 1) * V), ref[t]!)).toBeLessThan(1e-5);
  }
}

describe("loadLlama", () => {
  it("matches a direct float64 implementation (Llama, tied embeddings, MHA)", async () => {
    await expectMatchesDirect({ seed: 1 });
  });
  it("matches with grouped-query attention (kv heads < heads)", async () => {
    await expectMatchesDirect({ seed: 2, heads: 4, kvHeads: 2, hidden: 16 });
    await expectMatchesDirect({ seed: 3, heads: 6, kvHeads: 1, hidden: 12, headDim: 4 });
  });
  it("matches with untied embeddings (separate lm_head)", async () => {
    await expectMatchesDirect({ seed: 4, tie: false });
  });
  it("matches a Qwen2-style model with q/k/v biases and GQA", async () => {
    await expectMatchesDirect({
      seed: 5,
      modelType: "qwen2",
      heads: 4,
      kvHeads: 2,
      tie: false,
      ropeTheta: 1e6,
    });
  });
  it("matches a Llama with attention_bias (q/k/v/o biases) and an explicit head_dim", async () => {
    await expectMatchesDirect({ seed: 6, attentionBias: true, hidden: 12, heads: 2, headDim: 8 });
  });
  it("matches Mistral sliding-window attention", async () => {
    await expectMatchesDirect({ seed: 7, modelType: "mistral", kvHeads: 2, slidingWindow: 3 });
    // 4-query attention tiles: lengths 1..11 cover every remainder, windows smaller and larger than a tile.
    for (const [len, win] of [
      [1, 2],
      [6, 2],
      [11, 5],
      [11, 1],
    ] as const) {
      const toks = Array.from({ length: len }, (_, i) => (i * 7 + 3) % 32);
      await expectMatchesDirect(
        { seed: 30 + len + win, modelType: "mistral", kvHeads: 2, slidingWindow: win },
        toks,
      );
    }
    await expectMatchesDirect({ seed: 40 }, [5, 9, 2, 30, 1, 1, 8, 13, 21, 3, 4]);
  });
  it("really applies the sliding window (same weights, no window → different late logits)", async () => {
    const windowed = await loadLlama(
      randomLlamaCheckpoint({ seed: 7, modelType: "mistral", slidingWindow: 3 }),
    );
    const full = await loadLlama(randomLlamaCheckpoint({ seed: 7, modelType: "mistral" }));
    const t = Int32Array.from(TOKENS);
    const a = await windowed.forward(t, 1, t.length);
    const b = await full.forward(t, 1, t.length);
    expect(relErr(a.subarray(0, 3 * 32), b.subarray(0, 3 * 32))).toBeLessThan(1e-7);
    expect(relErr(a.subarray(8 * 32), b.subarray(8 * 32))).toBeGreaterThan(1e-3);
  });
  it("detects a wrong weight: a perturbed direct reference no longer matches", async () => {
    const ckpt = randomLlamaCheckpoint({ seed: 8 });
    const model = await loadLlama(ckpt);
    const w = model.getLinearWeight(1, "down_proj").slice();
    w[0] = w[0]! + 0.5;
    model.setLinearWeight(1, "down_proj", w);
    const logits = await model.forward(Int32Array.from(TOKENS), 1, TOKENS.length);
    const ref = await directLogits(ckpt, TOKENS);
    expect(relErr(logits.subarray(0, 32), ref[0]!)).toBeGreaterThan(1e-4);
  });

  it("names a missing tensor and the checkpoint", async () => {
    const ckpt = randomLlamaCheckpoint({ seed: 1 });
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const t of ckpt.list()) {
      if (t.name === "model.layers.1.mlp.up_proj.weight") continue;
      tensors.set(t.name, { shape: [...t.shape], data: await ckpt.readF32(t.name) });
    }
    const broken = memoryCheckpoint(ckpt.config as Record<string, unknown>, tensors, "broken.safetensors");
    await expect(loadLlama(broken)).rejects.toSatisfy(
      (e: unknown) =>
        isPruneError(e, "TENSOR_IO_NOT_FOUND") &&
        /broken\.safetensors.*model\.layers\.1\.mlp\.up_proj\.weight/.test((e as Error).message),
    );
  });

  it("names a tensor with the wrong shape", async () => {
    const ckpt = randomLlamaCheckpoint({ seed: 1 });
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const t of ckpt.list())
      tensors.set(t.name, { shape: [...t.shape], data: await ckpt.readF32(t.name) });
    tensors.set("model.layers.0.self_attn.k_proj.weight", { shape: [16, 8], data: new Float32Array(128) });
    const broken = memoryCheckpoint(ckpt.config as Record<string, unknown>, tensors, "x.safetensors");
    await expect(loadLlama(broken)).rejects.toSatisfy(
      (e: unknown) =>
        isPruneError(e, "SHAPE_MISMATCH") &&
        (e as Error).message.includes('"model.layers.0.self_attn.k_proj.weight"') &&
        (e as Error).message.includes("Expected [16, 16], got [16, 8]"),
    );
  });

  it("refuses a tensor holding NaN or Infinity, naming it", async () => {
    const ckpt = randomLlamaCheckpoint({ seed: 1 });
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const t of ckpt.list())
      tensors.set(t.name, { shape: [...t.shape], data: await ckpt.readF32(t.name) });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      tensors.get("model.layers.1.self_attn.v_proj.weight")!.data[37] = bad;
      const broken = memoryCheckpoint(ckpt.config as Record<string, unknown>, tensors, "nan.safetensors");
      await expect(loadLlama(broken)).rejects.toSatisfy(
        (e: unknown) =>
          isPruneError(e, "TENSOR_IO_MALFORMED") &&
          (e as Error).message.includes(
            '"model.layers.1.self_attn.v_proj.weight" holds a non-finite value at index 37',
          ),
      );
    }
  });

  it("requires lm_head.weight when embeddings are untied", async () => {
    const ckpt = randomLlamaCheckpoint({ seed: 1, tie: true });
    const cfg = { ...(ckpt.config as Record<string, unknown>), tie_word_embeddings: false };
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const t of ckpt.list())
      tensors.set(t.name, { shape: [...t.shape], data: await ckpt.readF32(t.name) });
    await expect(loadLlama(memoryCheckpoint(cfg, tensors))).rejects.toThrow(/lm_head\.weight/);
  });

  it("rejects an aborted load with ABORTED", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(loadLlama(randomLlamaCheckpoint(), { signal: ac.signal })).rejects.toSatisfy((e: unknown) =>
      isPruneError(e, "ABORTED"),
    );
  });
});

describe("disposal", () => {
  it("closeCheckpoint closes the checkpoint after loading, and when loading fails", async () => {
    const closes: string[] = [];
    const counted = (c: Checkpoint, name: string): Checkpoint => ({
      ...c,
      has: (n) => c.has(n),
      info: (n) => c.info(n),
      list: () => c.list(),
      readRaw: (n) => c.readRaw(n),
      readF32: (n) => c.readF32(n),
      close: async () => {
        closes.push(name);
      },
    });
    const ckpt = randomLlamaCheckpoint({ seed: 13 });
    await loadLlama(counted(ckpt, "kept"));
    expect(closes).toEqual([]); // by default the caller closes it
    const model = await loadLlama(counted(ckpt, "owned"), { closeCheckpoint: true });
    expect(closes).toEqual(["owned"]);
    expect((await model.forward(Int32Array.from(TOKENS), 1, TOKENS.length)).length).toBe(TOKENS.length * 32);
    const broken = memoryCheckpoint({ ...ckpt.config, num_hidden_layers: 0 }, new Map());
    await expect(loadLlama(counted(broken, "failed"), { closeCheckpoint: true })).rejects.toThrow();
    expect(closes).toEqual(["owned", "failed"]);
  });

  it("dispose() disposes the backend it created (not one passed in), is idempotent, and refuses later use", async () => {
    const ckpt = randomLlamaCheckpoint({ seed: 14 });
    let disposed = 0;
    const cpu = createCpuBackend();
    const given = { ...cpu, dispose: async () => void disposed++ };
    const borrowed = await loadLlama(ckpt, { backend: given });
    await borrowed.dispose();
    expect(disposed).toBe(0); // its owner disposes it
    const model = await loadLlama(ckpt);
    const w = Int32Array.from(TOKENS);
    await model.dispose();
    await model.dispose();
    await expect(model.forward(w, 1, w.length)).rejects.toThrow(/LlamaModel\.embed: the model was disposed/);
    expect(() => model.getLinearWeight(0, "q_proj")).toThrow(TypeError);
  });

  it("works with await using: disposed at the end of the scope", async () => {
    let model: Awaited<ReturnType<typeof loadLlama>> | undefined;
    {
      await using m = await loadLlama(randomLlamaCheckpoint({ seed: 15 }));
      model = m;
      expect(m.linearShape(0, "q_proj")).toEqual([16, 16]);
    }
    expect(() => model!.linearShape(0, "q_proj")).toThrow(/the model was disposed/);
    expect(typeof model[Symbol.asyncDispose]).toBe("function");
  });
});

describe("LlamaModel", () => {
  it("treats each window of a batch independently (batch = concatenated single windows)", async () => {
    const model = await loadLlama(randomLlamaCheckpoint({ seed: 9, kvHeads: 2 }));
    const a = Int32Array.from([1, 2, 3, 4, 5]);
    const b = Int32Array.from([9, 8, 7, 6, 31]);
    const both = await model.forward(Int32Array.from([...a, ...b]), 2, 5);
    const la = await model.forward(a, 1, 5);
    const lb = await model.forward(b, 1, 5);
    expect(relErr(both.subarray(0, 5 * 32), la)).toBeLessThan(1e-6);
    expect(relErr(both.subarray(5 * 32), lb)).toBeLessThan(1e-6);
  });

  it("is causal: a prefix gives the same logits alone as inside a longer window", async () => {
    const model = await loadLlama(randomLlamaCheckpoint({ seed: 10 }));
    const long = await model.forward(Int32Array.from(TOKENS), 1, TOKENS.length);
    const short = await model.forward(Int32Array.from(TOKENS.slice(0, 4)), 1, 4);
    expect(relErr(long.subarray(0, 4 * 32), short)).toBeLessThan(1e-6);
  });

  it("forward and nll with a signal: bit-identical results, and an abort lands inside the pass", async () => {
    const ckpt = randomLlamaCheckpoint({ seed: 12, layers: 3 });
    const plain = await loadLlama(ckpt);
    const w = Int32Array.from(TOKENS);
    const live = new AbortController().signal;
    expect(await plain.forward(w, 1, w.length, { signal: live })).toEqual(
      await plain.forward(w, 1, w.length),
    );
    expect(await plain.nll(w, { signal: live })).toEqual(await plain.nll(w));
    await expect(plain.nll(w, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: "ABORTED",
      message: "LlamaModel.forward (block 0): aborted",
    });
    // A backend that aborts during the 5th matmul (block 0's gate_proj, then up_proj runs): the pass
    // stops at the next linear input, down_proj's, without finishing the block.
    const cpu = createCpuBackend();
    const ac = new AbortController();
    let calls = 0;
    const backend = {
      ...cpu,
      name: "aborting",
      matmulTransB: (...args: Parameters<typeof cpu.matmulTransB>) => {
        if (++calls === 5) ac.abort();
        return cpu.matmulTransB(...args);
      },
    };
    const model = await loadLlama(ckpt, { backend, attention: "js" }); // attention's matmuls not counted
    const e = await model.forward(w, 1, w.length, { signal: ac.signal }).catch((x: unknown) => x);
    expect(isPruneError(e, "ABORTED")).toBe(true);
    expect((e as Error).message).toBe("LlamaModel.forward (block 0) down_proj: aborted");
    expect(calls).toBe(6);
  });

  it("computes nll as log-sum-exp minus the target logit", async () => {
    const model = await loadLlama(randomLlamaCheckpoint({ seed: 11, tie: false }));
    const w = Int32Array.from(TOKENS);
    const nll = await model.nll(w);
    const logits = await model.forward(w, 1, w.length);
    expect(nll.length).toBe(w.length - 1);
    for (let t = 0; t < w.length - 1; t++) {
      const row = Array.from(logits.subarray(t * 32, (t + 1) * 32));
      const z = row.reduce((s, v) => s + Math.exp(v), 0);
      expect(nll[t]).toBeCloseTo(-Math.log(Math.exp(row[w[t + 1]!]!) / z), 9);
    }
  });

  it("hooks.inputsOnly hands the hooks the same inputs, skips down_proj's product and returns no hidden states", async () => {
    const backend = createCpuBackend();
    const products: number[] = []; // output widths of the linears' matmuls, in call order
    const counting = {
      ...backend,
      matmulTransB(...args: Parameters<typeof backend.matmulTransB>) {
        products.push(args[4]);
        return backend.matmulTransB(...args);
      },
    };
    const model = await loadLlama(randomLlamaCheckpoint({ seed: 13, kvHeads: 2, layers: 1 }), {
      backend: counting,
      attention: "js",
    });
    const h0 = model.embed(Int32Array.from([5, 6, 7, 8, 9, 10]));
    const run = async (inputsOnly: boolean) => {
      const seen: [LinearName, Float32Array][] = [];
      products.length = 0;
      const out = await model.runBlock(0, h0, 2, 3, {
        ...(inputsOnly ? { inputsOnly } : {}),
        onLinearInput(name, x) {
          seen.push([name, x.slice()]);
        },
      });
      return { seen, out, products: [...products] };
    };
    const full = await run(false);
    const only = await run(true);
    expect(only.seen.map(([n]) => n)).toEqual([...LINEAR_NAMES]);
    for (let i = 0; i < full.seen.length; i++) expect(only.seen[i]![1]).toEqual(full.seen[i]![1]);
    expect(full.out.length).toBe(6 * model.config.hiddenSize);
    expect(only.out.length).toBe(0);
    // Six of the seven products ran; the missing one is down_proj's (output width = hidden size).
    expect(full.products.length).toBe(7);
    expect(only.products).toEqual(full.products.slice(0, 6));
    expect(full.products[6]).toBe(model.config.hiddenSize);
  });

  it("composes embed → runBlock → head into forward, and hooks see each linear's input", async () => {
    const model = await loadLlama(randomLlamaCheckpoint({ seed: 12, kvHeads: 2, layers: 3 }));
    const toks = Int32Array.from([5, 6, 7, 8, 9, 10]);
    let h = model.embed(toks);
    const seen: { layer: number; name: LinearName; rows: number; cols: number; x: Float32Array }[] = [];
    for (let l = 0; l < model.config.numLayers; l++) {
      h = await model.runBlock(l, h, 2, 3, {
        onLinearInput(name, x, rows, cols) {
          seen.push({ layer: l, name, rows, cols, x: x.slice() });
        },
      });
    }
    const logits = await model.head(h, 2, 3);
    expect(Array.from(logits)).toEqual(Array.from(await model.forward(toks, 2, 3)));
    expect(seen.map((s) => s.name)).toEqual([...LINEAR_NAMES, ...LINEAR_NAMES, ...LINEAR_NAMES]);
    for (const s of seen) {
      const [, inn] = model.linearShape(s.layer, s.name);
      expect([s.rows, s.cols]).toEqual([6, inn]);
    }
    // q/k/v share one input and gate/up share one input.
    expect(seen[1]!.x).toEqual(seen[0]!.x);
    expect(seen[5]!.x).toEqual(seen[4]!.x);
    // The captured down_proj input really is its input: pushed through down_proj it reproduces
    // the block's MLP residual update.
    const L0 = seen.filter((s) => s.layer === 0);
    const down = L0.find((s) => s.name === "down_proj")!;
    const wDown = model.getLinearWeight(0, "down_proj");
    const [dOut, dIn] = model.linearShape(0, "down_proj");
    const h0 = model.embed(toks);
    const h1 = await model.runBlock(0, h0, 2, 3);
    expect(h0).toEqual(model.embed(toks)); // runBlock leaves its input untouched
    // h1 = h0 + attn + down(x): zeroing down_proj removes exactly down(x).
    const saved = wDown.slice();
    model.setLinearWeight(0, "down_proj", new Float32Array(dOut * dIn));
    const h1NoMlp = await model.runBlock(0, h0, 2, 3);
    model.setLinearWeight(0, "down_proj", saved);
    for (let r = 0; r < 6; r++)
      for (let i = 0; i < dOut; i++) {
        let s = 0;
        for (let j = 0; j < dIn; j++) s += saved[i * dIn + j]! * down.x[r * dIn + j]!;
        expect(h1[r * dOut + i]! - h1NoMlp[r * dOut + i]!).toBeCloseTo(s, 4);
      }
  });

  it("reports linear shapes and HF parameter names", async () => {
    const model = await loadLlama(
      randomLlamaCheckpoint({ hidden: 16, heads: 4, kvHeads: 2, intermediate: 24 }),
    );
    expect(model.linearShape(0, "q_proj")).toEqual([16, 16]);
    expect(model.linearShape(0, "k_proj")).toEqual([8, 16]);
    expect(model.linearShape(1, "down_proj")).toEqual([16, 24]);
    expect(model.parameterName(1, "down_proj")).toBe("model.layers.1.mlp.down_proj.weight");
    expect(model.parameterName(0, "o_proj")).toBe("model.layers.0.self_attn.o_proj.weight");
    expect(() => model.parameterName(2, "q_proj")).toThrow(RangeError);
    expect(() => model.linearShape(0, "x_proj" as LinearName)).toThrow(/unknown linear/);
    expect(() => model.setLinearWeight(0, "k_proj", new Float32Array(10))).toThrow(
      /k_proj\.weight needs 8·16 = 128/,
    );
    const before = model.getLinearWeight(0, "k_proj").slice();
    const nan = before.slice();
    nan[5] = Number.NaN;
    expect(() => model.setLinearWeight(0, "k_proj", nan)).toThrow(
      /k_proj\.weight has a non-finite value at index 5/,
    );
    expect(model.getLinearWeight(0, "k_proj")).toEqual(before);
  });

  it("rejects bad token ids, shapes and window lengths", async () => {
    const model = await loadLlama(randomLlamaCheckpoint({ maxPos: 8 }));
    await expect(model.forward(Int32Array.from([1, 32]), 1, 2)).rejects.toThrow(/token 1 is 32/);
    await expect(model.forward(Int32Array.from([1, 2, 3]), 1, 2)).rejects.toThrow(RangeError);
    await expect(model.forward(new Int32Array(9), 1, 9)).rejects.toThrow(/max_position_embeddings 8/);
    await expect(model.runBlock(0, new Float32Array(5), 1, 1)).rejects.toThrow(/hidden has 5/);
    await expect(model.nll(Int32Array.from([1]))).rejects.toThrow(RangeError);
  });

  it("gives the same logits through the KV cache as through a full forward pass", async () => {
    const model = await loadLlama(randomLlamaCheckpoint({ seed: 13, kvHeads: 2, modelType: "qwen2" }));
    const full = await model.forward(Int32Array.from(TOKENS), 1, TOKENS.length);
    const seq = model.createSequence();
    const V = 32;
    const first = await seq.append(Int32Array.from(TOKENS.slice(0, 4)));
    expect(relErr(first, full.subarray(3 * V, 4 * V))).toBeLessThan(1e-5);
    for (let t = 4; t < TOKENS.length; t++) {
      const l = await seq.append(Int32Array.from([TOKENS[t]!]));
      expect(relErr(l, full.subarray(t * V, (t + 1) * V))).toBeLessThan(1e-5);
    }
    expect(seq.length).toBe(TOKENS.length);
  });
});
