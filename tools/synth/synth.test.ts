import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isPruneError } from "@mama-prune/core";
import { loadHfTokenizer, loadLlama } from "@mama-prune/model";
import { readHfCheckpointFolder } from "@mama-prune/tensor-io/node";
import { afterAll, describe, expect, it } from "vitest";
import { SHAPES, tensorPlan } from "./shapes.ts";
import { synthConfig, synthesize } from "./synth.ts";

const TMP = await mkdtemp(join(tmpdir(), "mama-synth-"));
afterAll(() => rm(TMP, { recursive: true, force: true }));

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

describe("synth shapes", () => {
  // Parameter counts published for these checkpoints (HF model cards / safetensors metadata:
  // Llama-3.2-1B 2,471,628,800 bytes in bf16; Llama-2-7b-hf 6.74 B; Qwen2.5-0.5B 0.49 B).
  it.each([
    ["llama-3.2-1b", 1_235_814_400, 16 * 9 + 2],
    ["qwen2.5-0.5b", 494_032_768, 24 * 12 + 2],
    ["llama-2-7b", 6_738_415_616, 32 * 9 + 3],
  ] as const)("%s at full depth has the published parameter count", (shape, params, tensors) => {
    const plan = tensorPlan(synthConfig({ shape, out: "unused" }));
    expect(plan.reduce((a, t) => a + numel(t.shape), 0)).toBe(params);
    expect(plan.length).toBe(tensors);
  });

  it("writes the published config.json, with depth and torch_dtype applied", () => {
    const c = synthConfig({ shape: "llama-3.2-1b", out: "unused", layers: 3, dtype: "F16" });
    expect(c).toEqual({ ...SHAPES["llama-3.2-1b"].config, num_hidden_layers: 3, torch_dtype: "float16" });
    expect([c["hidden_size"], c["intermediate_size"], c["num_key_value_heads"], c["vocab_size"]]).toEqual([
      2048, 8192, 8, 128256,
    ]);
    const q = synthConfig({ shape: "qwen2.5-0.5b", out: "unused" });
    expect([q["hidden_size"], q["num_attention_heads"], q["num_key_value_heads"], q["rope_theta"]]).toEqual([
      896, 14, 2, 1000000,
    ]);
    const l2 = synthConfig({ shape: "llama-2-7b", out: "unused" });
    expect([l2["hidden_size"], l2["intermediate_size"], l2["tie_word_embeddings"], l2["vocab_size"]]).toEqual(
      [4096, 11008, false, 32000],
    );
  });

  it("width override (development): the block's widths replaced, every other setting kept", () => {
    const width = {
      hidden_size: 256,
      intermediate_size: 1024,
      num_attention_heads: 4,
      num_key_value_heads: 1,
    };
    const c = synthConfig({ shape: "llama-3.2-1b", out: "unused", layers: 2, vocab: 4096, width });
    expect(c).toEqual({
      ...SHAPES["llama-3.2-1b"].config,
      ...width,
      num_hidden_layers: 2,
      torch_dtype: "bfloat16",
      vocab_size: 4096,
      bos_token_id: 4094,
      eos_token_id: 4095,
    });
    // head_dim 64 is the published one: q is 4 × 64 = 256 rows, k/v one head of 64.
    const shapes = Object.fromEntries(tensorPlan(c).map((t) => [t.name, t.shape]));
    expect(shapes["model.layers.1.self_attn.q_proj.weight"]).toEqual([256, 256]);
    expect(shapes["model.layers.1.self_attn.k_proj.weight"]).toEqual([64, 256]);
    expect(shapes["model.layers.1.mlp.down_proj.weight"]).toEqual([256, 1024]);
    expect(shapes["model.embed_tokens.weight"]).toEqual([4096, 256]);
    const bad =
      (width: Record<string, number>): (() => unknown) =>
      () =>
        synthConfig({ shape: "llama-3.2-1b", out: "x", width });
    expect(bad({ rope_theta: 1 })).toThrow(/unknown field "rope_theta"/);
    expect(bad({ hidden_size: 0 })).toThrow(/width\.hidden_size: expected a positive integer, got 0/);
    expect(bad({ num_key_value_heads: 3 })).toThrow(/multiple of num_key_value_heads.*32 \/ 3 heads/);
  });

  it("refuses an unknown shape, a depth out of range and an impossible shard count", () => {
    expect(() => synthConfig({ shape: "gpt2" as "llama-2-7b", out: "x" })).toThrow(/unknown shape "gpt2"/);
    expect(() => synthConfig({ shape: "llama-3.2-1b", out: "x", layers: 17 })).toThrow(/\[1, 16\]/);
    expect(() => synthConfig({ shape: "llama-3.2-1b", out: "x", layers: 0 })).toThrow(/--layers/);
  });
});

describe("synthesize", () => {
  it("llama-3.2-1b, 1 layer, bf16, 2 shards: real block shapes, loads with loadLlama, finite logits", async () => {
    const out = join(TMP, "llama32");
    const r = await synthesize({
      shape: "llama-3.2-1b",
      layers: 1,
      dtype: "BF16",
      shards: 2,
      vocab: 1024,
      out,
    });
    expect([...r.files].sort()).toEqual(
      [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
        "tokenizer_config.json",
      ].sort(),
    );
    const index = JSON.parse(await readFile(join(out, "model.safetensors.index.json"), "utf8"));
    expect(index.metadata.total_size).toBe(r.totalSizeBytes);
    expect(r.totalSizeBytes).toBe(2 * (1024 * 2048 + 60_821_504 + 2048)); // embed + one block + norm
    const ckpt = await readHfCheckpointFolder(out);
    try {
      const infos = ckpt.list();
      expect(infos.length).toBe(11);
      expect(infos.every((t) => t.dtype === "BF16")).toBe(true);
      const shapeOf = (n: string): readonly number[] => ckpt.info(n).shape;
      expect(shapeOf("model.layers.0.self_attn.q_proj.weight")).toEqual([2048, 2048]);
      expect(shapeOf("model.layers.0.self_attn.k_proj.weight")).toEqual([512, 2048]);
      expect(shapeOf("model.layers.0.mlp.down_proj.weight")).toEqual([2048, 8192]);
      expect(ckpt.has("lm_head.weight")).toBe(false); // tied
      const w = await ckpt.readF32("model.layers.0.mlp.up_proj.weight");
      let s = 0;
      let ss = 0;
      for (const x of w) {
        s += x;
        ss += x * x;
      }
      const mean = s / w.length;
      const std = Math.sqrt(ss / w.length - mean * mean);
      expect(Math.abs(mean)).toBeLessThan(1e-4); // 16.8 M samples: σ/√n ≈ 5e-6
      expect(Math.abs(std - 0.02)).toBeLessThan(2e-4); // bf16 rounding is unbiased to ~1e-3 relative
      expect(Array.from(await ckpt.readF32("model.norm.weight")).every((x) => x === 1)).toBe(true);

      const model = await loadLlama(ckpt);
      expect(model.config.ropeScaling?.type).toBe("llama3");
      const tok = await loadHfTokenizer(
        JSON.parse(await readFile(join(out, "tokenizer.json"), "utf8")),
        JSON.parse(await readFile(join(out, "tokenizer_config.json"), "utf8")),
      );
      const ids = tok.encode("Once upon a time, there was a model.", { bos: true });
      expect(ids[0]).toBe(1022); // bos moved below the reduced vocab (the real id 128000 does not fit)
      expect(Array.from(ids).every((id) => id >= 0 && id < 1024)).toBe(true);
      const logits = await model.forward(ids, 1, ids.length);
      expect(logits.length).toBe(ids.length * 1024);
      expect(logits.every(Number.isFinite)).toBe(true);
      let maxAbs = 0;
      for (const x of logits) maxAbs = Math.max(maxAbs, Math.abs(x));
      expect(maxAbs).toBeGreaterThan(0.01); // not all zeros
      expect(maxAbs).toBeLessThan(100);
    } finally {
      await ckpt.close();
    }
  });

  it("qwen2.5-0.5b, f16, 3 shards: q/k/v biases, deterministic per seed, different seeds differ", async () => {
    const a = join(TMP, "qwen-a");
    const b = join(TMP, "qwen-b");
    const c = join(TMP, "qwen-c");
    const opts = { shape: "qwen2.5-0.5b", layers: 2, dtype: "F16", shards: 3, vocab: 512 } as const;
    const r = await synthesize({ ...opts, out: a });
    await synthesize({ ...opts, out: b });
    await synthesize({ ...opts, seed: 1, out: c });
    expect(r.files.filter((f) => f.endsWith(".safetensors")).length).toBe(3);
    for (const f of r.files) {
      expect(Buffer.compare(await readFile(join(a, f)), await readFile(join(b, f))), f).toBe(0);
    }
    const shard = "model-00001-of-00003.safetensors";
    expect(Buffer.compare(await readFile(join(a, shard)), await readFile(join(c, shard)))).not.toBe(0);
    const ckpt = await readHfCheckpointFolder(a);
    try {
      expect(ckpt.info("model.layers.1.self_attn.k_proj.bias")).toMatchObject({ dtype: "F16", shape: [128] });
      expect(ckpt.info("model.layers.1.self_attn.q_proj.weight").shape).toEqual([896, 896]);
      const model = await loadLlama(ckpt);
      expect(model.config.attentionBias).toBe(true);
      const logits = await model.forward(Int32Array.from([5, 9, 100, 3]), 1, 4);
      expect(logits.every(Number.isFinite)).toBe(true);
    } finally {
      await ckpt.close();
    }
  });

  it("refuses a non-empty --out and leaves it untouched; leaves nothing behind on failure", async () => {
    const out = join(TMP, "busy");
    await mkdir(out);
    await writeFile(join(out, "keep.txt"), "mine");
    await expect(synthesize({ shape: "qwen2.5-0.5b", layers: 1, vocab: 512, out })).rejects.toSatisfy(
      (e: unknown) => isPruneError(e, "TENSOR_IO_EXISTS") && /not empty/.test((e as Error).message),
    );
    expect(await readdir(out)).toEqual(["keep.txt"]);
    await expect(
      synthesize({ shape: "qwen2.5-0.5b", layers: 1, vocab: 512, shards: 99, out: join(TMP, "never") }),
    ).rejects.toThrow(/--shards/);
    expect((await readdir(TMP)).filter((f) => f.includes("never"))).toEqual([]);
  });

  it("runs as `npm run synth` (tsx entry): arguments checked, exit code 2 with a message", () => {
    const r = spawnSync(
      "npx",
      ["tsx", "--conditions", "@mama-prune/source", "tools/synth/main.ts", "--shape", "llama-3.2-1b"],
      { cwd: join(import.meta.dirname, "..", ".."), encoding: "utf8" },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--shape and --out are required/);
  });
});
