// perplexityStreaming against the resident model's perplexity (@mama-prune/eval over loadLlama), on the
// bundled stories260K (llama2.c, tied) with the JS and wasm backends, on a synthesized Qwen2.5-shape
// folder (bf16, q/k/v biases, tied) and on an untied in-memory Llama.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWasmBackend, isWasmSimdSupported } from "@mama-prune/compute-wasm";
import { type ComputeBackend, createRng, isPruneError } from "@mama-prune/core";
import { cutWindows, loadEvalText, perplexity } from "@mama-prune/eval";
import { createCpuBackend, createLlama2cTokenizer, loadLlama } from "@mama-prune/model";
import {
  type Checkpoint,
  memoryCheckpointDir,
  readHfCheckpoint,
  readLlama2c,
  readLlama2cTokenizer,
  type SafetensorsEntry,
  writeHfCheckpoint,
} from "@mama-prune/tensor-io";
import { readHfCheckpointFolder } from "@mama-prune/tensor-io/node";
import { afterAll, describe, expect, it } from "vitest";
import { synthesize } from "../../../tools/synth/synth.ts";
import { splitCalibrationText } from "./calibration.ts";
import { perplexityStreaming, type StreamEvalProgress } from "./stream-eval.ts";

const repo = (p: string): URL => new URL(`../../../${p}`, import.meta.url);

/** A checkpoint that counts reads per tensor. */
function counting(c: Checkpoint): { ckpt: Checkpoint; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  const bump = (n: string): void => {
    reads.set(n, (reads.get(n) ?? 0) + 1);
  };
  return {
    reads,
    ckpt: {
      ...c,
      list: () => c.list(),
      has: (n) => c.has(n),
      info: (n) => c.info(n),
      readRaw: (n) => {
        bump(n);
        return c.readRaw(n);
      },
      readF32: (n) => {
        bump(n);
        return c.readF32(n);
      },
      close: () => c.close(),
    },
  };
}

/** The model's per-window nll as a PerplexityModel over plain windows (resident reference). */
async function residentPpl(
  ckpt: Checkpoint,
  windows: Int32Array[],
  backend: ComputeBackend,
): Promise<number> {
  const model = await loadLlama(ckpt, { backend });
  let sum = 0;
  let count = 0;
  for (const w of windows) {
    const nll = await model.nll(w);
    for (const v of nll) sum += v;
    count += nll.length;
  }
  return Math.exp(sum / count);
}

/** A small untied Mistral (GQA 4/2, sliding window 5) as an in-memory HF folder, seeded random weights. */
async function untiedMistral(): Promise<Checkpoint> {
  const H = 16;
  const I = 24;
  const V = 40;
  const rng = createRng(2);
  const tensors: SafetensorsEntry[] = [];
  const add = (name: string, shape: number[], std: number, mean = 0): void => {
    const data = Float32Array.from({ length: shape[0]! * (shape[1] ?? 1) }, () => mean + std * rng.normal());
    tensors.push({ name, dtype: "F32", shape, data });
  };
  add("model.embed_tokens.weight", [V, H], 1);
  for (let l = 0; l < 3; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [H], 0.1, 1);
    add(`${p}.post_attention_layernorm.weight`, [H], 0.1, 1);
    add(`${p}.self_attn.q_proj.weight`, [H, H], 0.5);
    add(`${p}.self_attn.k_proj.weight`, [H / 2, H], 0.5);
    add(`${p}.self_attn.v_proj.weight`, [H / 2, H], 0.25);
    add(`${p}.self_attn.o_proj.weight`, [H, H], 0.25);
    add(`${p}.mlp.gate_proj.weight`, [I, H], 0.25);
    add(`${p}.mlp.up_proj.weight`, [I, H], 0.25);
    add(`${p}.mlp.down_proj.weight`, [H, I], 0.2);
  }
  add("model.norm.weight", [H], 0.1, 1);
  add("lm_head.weight", [V, H], 0.5);
  const config = {
    architectures: ["MistralForCausalLM"],
    model_type: "mistral",
    hidden_size: H,
    intermediate_size: I,
    num_hidden_layers: 3,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: V,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    sliding_window: 5,
    tie_word_embeddings: false,
    max_position_embeddings: 64,
    hidden_act: "silu",
  };
  const dir = memoryCheckpointDir("untied-mistral");
  await writeHfCheckpoint(dir, { config, tensors });
  return readHfCheckpoint(dir);
}

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
const rawText = await readFile(repo("data/tinystories/tinystories_val.txt"), "utf8");

describe("perplexityStreaming on the bundled stories260K", () => {
  it("equals eval's perplexity over the loaded model (the pinned 3.9401, 10 windows × 256), reading the tied embedding once", async () => {
    const text = loadEvalText(rawText, { format: "plain" });
    const model = await loadLlama(stories);
    const resident = await perplexity(model, tokenizer, text, { seqlen: 256, maxWindows: 10 });
    const { ckpt, reads } = counting(stories);
    const progress: StreamEvalProgress[] = [];
    const r = await perplexityStreaming({
      checkpoint: ckpt,
      windows: cutWindows(tokenizer, text, 256, false),
      seqlen: 256,
      maxWindows: 10,
      batchSize: 3, // ragged last batch
      onProgress: (p) => progress.push(p),
    });
    expect(Math.abs(r.ppl - resident.ppl) / resident.ppl).toBeLessThanOrEqual(1e-9);
    expect(r.ppl.toFixed(4)).toBe("3.9401");
    expect(r.tokensScored).toBe(resident.tokensScored);
    expect(r.windows).toBe(10);
    expect(r.timings.blockMs).toHaveLength(5);
    expect(reads.get("model.embed_tokens.weight")).toBe(1);
    expect(reads.has("lm_head.weight")).toBe(false);
    expect(reads.get("model.layers.4.mlp.down_proj.weight")).toBe(1);
    expect(progress.filter((p) => p.stage === "embed")).toHaveLength(10);
    expect(progress.filter((p) => p.stage === "block").map((p) => p.done)).toEqual([1, 2, 3, 4, 5]);
    expect(progress.at(-1)).toEqual({ stage: "head", done: 1, total: 1 });
    // Per-token NLLs: window-major, each within float32-logit rounding of the resident model's.
    expect(r.nll).toHaveLength(10 * 255);
    const cut = cutWindows(tokenizer, text, 256, false);
    let worst = 0;
    for (const k of [0, 9]) {
      const want = await model.nll(cut.window(k));
      for (let i = 0; i < 255; i++) worst = Math.max(worst, Math.abs(r.nll[k * 255 + i]! - want[i]!));
    }
    expect(worst).toBeLessThan(1e-5);
    let sum = 0;
    for (const v of r.nll) sum += v;
    expect(Math.abs(sum / r.tokensScored - r.meanNll)).toBeLessThan(1e-12);
  });

  it.skipIf(!isWasmSimdSupported())(
    "the head's row max and Σ exp on the backend (rowMaxSumExp) give every token's NLL bit for bit as the loops, in small vocabulary chunks",
    async () => {
      const backend = await createWasmBackend();
      expect(typeof backend.rowMaxSumExp).toBe("function");
      // The same backend without the op: the head runs its JavaScript loops.
      const loops: ComputeBackend = {
        name: backend.name,
        matmulTransB: backend.matmulTransB.bind(backend),
        gramAccumulate: backend.gramAccumulate.bind(backend),
        colSqNormAccumulate: backend.colSqNormAccumulate.bind(backend),
        invalidate: backend.invalidate.bind(backend),
        causalAttentionWindows: backend.causalAttentionWindows.bind(backend),
        swiglu: backend.swiglu.bind(backend),
      };
      try {
        const windows = cutWindows(tokenizer, splitCalibrationText(rawText).evaluation, 128, false);
        const run = (b: ComputeBackend) =>
          perplexityStreaming({
            checkpoint: stories,
            windows,
            seqlen: 128,
            maxWindows: 6,
            backend: b,
            vocabChunk: 97, // 512 = 5 · 97 + 27: several chunks and a ragged last one
            headRows: 200,
          });
        const a = await run(backend);
        const b = await run(loops);
        expect(a.nll.length).toBe(6 * 127);
        let bad = 0;
        for (let i = 0; i < a.nll.length; i++) if (!Object.is(a.nll[i], b.nll[i])) bad++;
        expect(bad).toBe(0);
        expect(a.ppl).toBe(b.ppl);
      } finally {
        await backend.dispose();
      }
    },
  );

  it.skipIf(!isWasmSimdSupported())(
    "with the wasm backend and backend attention keeps the tables' dense ppl 3.8961 (evaluation split, 16 × 256)",
    async () => {
      const evalText = splitCalibrationText(rawText).evaluation;
      const backend = await createWasmBackend();
      try {
        const windows = cutWindows(tokenizer, evalText, 256, false);
        const viaBackend = await perplexity(await loadLlama(stories, { backend }), tokenizer, evalText, {
          seqlen: 256,
          maxWindows: 16,
        });
        const viaJs = await perplexity(
          await loadLlama(stories, { backend, attention: "js" }),
          tokenizer,
          evalText,
          { seqlen: 256, maxWindows: 16 },
        );
        const streamed = await perplexityStreaming({
          checkpoint: stories,
          windows,
          seqlen: 256,
          maxWindows: 16,
          backend,
        });
        expect(viaJs.ppl.toFixed(4)).toBe("3.8961");
        expect(viaBackend.ppl.toFixed(4)).toBe("3.8961");
        expect(viaBackend.meanNll.toFixed(6)).toBe(viaJs.meanNll.toFixed(6)); // the protocol's printed digits
        expect(Math.abs(viaBackend.ppl - viaJs.ppl) / viaJs.ppl).toBeLessThan(1e-6);
        expect(Math.abs(streamed.ppl - viaBackend.ppl) / viaBackend.ppl).toBeLessThanOrEqual(1e-9);
      } finally {
        await backend.dispose();
      }
    },
  );

  it("refuses bad options before reading any tensor, and stops on an aborted signal", async () => {
    const { ckpt, reads } = counting(stories);
    const tokens = Int32Array.from({ length: 600 }, (_, i) => (i * 7) % 512);
    const bad = async (o: Partial<Parameters<typeof perplexityStreaming>[0]>): Promise<unknown> =>
      perplexityStreaming({ checkpoint: ckpt, seqlen: 64, tokens, ...o }).catch((e: unknown) => e);
    const cases: [Partial<Parameters<typeof perplexityStreaming>[0]>, string][] = [
      [{ seqlen: 513 }, "Expected seqlen ≤ 512, got 513"],
      [{ seqlen: 1 }, "Expected seqlen ≥ 2, got 1"],
      [{ windows: cutWindows(tokenizer, "Once upon a time", 4, false) }, "got both"],
      [{ tokens: Int32Array.of(1, 2, 512, 3), seqlen: 4 }, "Expected an id in [0, 512), got 512"],
      [{ tokens: Int32Array.of(1, 2, 3), seqlen: 4 }, "Expected ≥ 4 tokens, got 3"],
      [{ batchSize: 0 }, "options.batchSize must be a positive integer"],
    ];
    for (const [o, msg] of cases) {
      const e = await bad(o);
      expect(isPruneError(e, "EVAL_INVALID"), String(e)).toBe(true);
      expect((e as Error).message).toContain(msg);
    }
    expect(reads.size).toBe(0);
    const ac = new AbortController();
    const e = await perplexityStreaming({
      checkpoint: ckpt,
      tokens,
      seqlen: 64,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.stage === "block" && p.done === 2) ac.abort();
      },
    }).catch((x: unknown) => x);
    expect(isPruneError(e, "ABORTED")).toBe(true);
    expect(reads.has("model.layers.2.mlp.down_proj.weight")).toBe(false);
  });
});

describe("perplexityStreaming on HF folders", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it.skipIf(!isWasmSimdSupported())(
    "a synthesized qwen2.5-0.5b shape (--layers 2 --vocab 512, bf16, biases, tied) with wasm: = resident to 1e-9",
    async () => {
      const root = await mkdtemp(join(tmpdir(), "stream-eval-"));
      dirs.push(root);
      const out = join(root, "qwen");
      await synthesize({ shape: "qwen2.5-0.5b", layers: 2, vocab: 512, dtype: "BF16", out });
      const ckpt = await readHfCheckpointFolder(out);
      const backend = await createWasmBackend();
      try {
        const rng = createRng(3);
        const windows = Array.from({ length: 3 }, () => Int32Array.from({ length: 24 }, () => rng.int(512)));
        const tokens = new Int32Array(72);
        for (const [k, w] of windows.entries()) tokens.set(w, 24 * k);
        const ref = await residentPpl(ckpt, windows, backend);
        const { ckpt: counted, reads } = counting(ckpt);
        const r = await perplexityStreaming({
          checkpoint: counted,
          tokens,
          seqlen: 24,
          backend,
          batchSize: 2,
          vocabChunk: 100, // ragged last chunk
          headRows: 30, // ragged row batches crossing windows
        });
        expect(Math.abs(r.ppl - ref) / ref).toBeLessThanOrEqual(1e-9);
        expect(r.ppl).toBeGreaterThan(400); // random weights: about the vocabulary size
        expect(r.backend).toBe(backend.name);
        expect(reads.get("model.embed_tokens.weight")).toBe(1);
        expect(reads.get("model.layers.1.self_attn.q_proj.bias")).toBe(1);
      } finally {
        await backend.dispose();
        await ckpt.close();
      }
    },
  );

  it("an untied Mistral (sliding window 5, in-memory folder, JS backend, attention js and backend): = resident to 1e-9", async () => {
    const checkpoint = await untiedMistral();
    expect(checkpoint.has("lm_head.weight")).toBe(true);
    const rng = createRng(5);
    const tokens = Int32Array.from({ length: 5 * 16 }, () => rng.int(40));
    const windows = Array.from({ length: 5 }, (_, k) => tokens.subarray(16 * k, 16 * (k + 1)));
    for (const attention of ["backend", "js"] as const) {
      const model = await loadLlama(checkpoint, { attention });
      let sum = 0;
      for (const w of windows) for (const v of await model.nll(w)) sum += v;
      const ref = Math.exp(sum / (5 * 15));
      const { ckpt, reads } = counting(checkpoint);
      const r = await perplexityStreaming({
        checkpoint: ckpt,
        tokens,
        seqlen: 16,
        maxWindows: 5,
        attention,
        backend: createCpuBackend(),
        vocabChunk: 7,
      });
      expect(Math.abs(r.ppl - ref) / ref).toBeLessThanOrEqual(1e-9);
      expect(reads.get("model.embed_tokens.weight")).toBe(1);
      expect(reads.get("lm_head.weight")).toBe(1);
    }
  });
});
