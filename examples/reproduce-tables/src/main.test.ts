import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import { createRng } from "@mama-prune/core";
import { createCpuBackend } from "@mama-prune/model";
import { prune } from "@mama-prune/pipeline";
import {
  type Checkpoint,
  memoryCheckpointDir,
  readHfCheckpoint,
  type SafetensorsEntry,
  writeHfCheckpoint,
} from "@mama-prune/tensor-io";
import { describe, expect, it } from "vitest";
import { sqrtActivation } from "./acme-scorer.ts";
import { reproduceTables, writeTables } from "./tables.ts";

const V = 32;

async function tinyModel(): Promise<Checkpoint> {
  const rng = createRng(2);
  const H = 16;
  const I = 32;
  const tensors: SafetensorsEntry[] = [];
  const add = (name: string, shape: number[], std: number, mean = 0): void => {
    const data = Float32Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      () => mean + std * rng.normal(),
    );
    tensors.push({ name, dtype: "F32", shape, data });
  };
  add("model.embed_tokens.weight", [V, H], 1);
  for (let l = 0; l < 2; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [H], 0.1, 1);
    add(`${p}.post_attention_layernorm.weight`, [H], 0.1, 1);
    for (const [n, o, i] of [
      ["self_attn.q_proj", H, H],
      ["self_attn.k_proj", H / 2, H],
      ["self_attn.v_proj", H / 2, H],
      ["self_attn.o_proj", H, H],
      ["mlp.gate_proj", I, H],
      ["mlp.up_proj", I, H],
      ["mlp.down_proj", H, I],
    ] as const)
      add(`${p}.${n}.weight`, [o, i], 1 / Math.sqrt(i));
  }
  add("model.norm.weight", [H], 0.1, 1);
  const config = {
    model_type: "llama",
    hidden_size: H,
    intermediate_size: I,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: V,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    max_position_embeddings: 64,
  };
  const dir = memoryCheckpointDir("tiny");
  await writeHfCheckpoint(dir, { config, tensors });
  return readHfCheckpoint(dir);
}

const tokenizer = {
  bosId: 1,
  encode: (t: string): Int32Array => Int32Array.from(t, (c) => 2 + (c.charCodeAt(0) % (V - 2))),
};

function text(): string {
  const rng = createRng(4);
  const words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"];
  const paras: string[] = [];
  for (let p = 0; p < 20; p++) {
    paras.push(Array.from({ length: 30 }, () => words[rng.int(words.length)]).join(" "));
  }
  return paras.join("\n\n");
}

describe("reproduceTables", () => {
  it("runs the whole sweep on a tiny model and writes both tables", async () => {
    const checkpoint = await tinyModel();
    const r = await reproduceTables({
      checkpoint,
      tokenizer,
      text: text(),
      datasetName: "tiny",
      calibration: { nsamples: 2, seqlen: 16, seed: 0 },
      evaluation: { seqlen: 16, maxWindows: 2 },
      levels: [0.5, 0.9, { n: 2, m: 4 }],
    });
    expect(r.table1.rows.map((x) => x.level)).toEqual(["0", "0.5", "0.9", "2:4"]);
    expect(r.table2.columns).toEqual(["Wanda", "SparseGPT", "Magnitude", "MAMA"]);
    for (const row of r.table2.rows) for (const v of row.values) expect(Number.isFinite(v)).toBe(true);
    expect(r.table1.rows[0]!.values).toEqual([r.dense, r.dense]);
    expect(r.runs.find((x) => x.method === "wanda" && x.level === "2:4")!.overallSparsity).toBe(0.5);
    expect(r.protocol).toContain("2 windows × 16 tokens");
    const dir = await mkdtemp(join(tmpdir(), "tables-"));
    try {
      const files = await writeTables(dir, r);
      expect(files).toHaveLength(4);
      const md = await readFile(join(dir, "table2-methods.md"), "utf8");
      expect(md).toContain("| Pruning level | Wanda | SparseGPT | Magnitude | MAMA |");
      expect(md).toContain("| 2:4 | 0.5000 | 0.5000 | 0.5000 | 0.5000 |");
      const json = JSON.parse(await readFile(join(dir, "table1-weights.json"), "utf8"));
      expect(json.columns).toEqual(["by Weights", "by -Weights"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("names the backend and the model checksum in the protocol; wasm and js agree", async () => {
    const setup = {
      tokenizer,
      text: text(),
      datasetName: "tiny",
      calibration: { nsamples: 2, seqlen: 16, seed: 0 },
      evaluation: { seqlen: 16, maxWindows: 2 },
      levels: [0.5],
      methods: ["wanda", "magnitude"],
      modelChecksum: "ab".repeat(32),
    } as const;
    const js = await reproduceTables({ ...setup, checkpoint: await tinyModel() });
    expect(js.protocol).toContain("; backend js | ");
    const backend = await createDefaultCpuBackend({ fallback: createCpuBackend, threads: 2 });
    try {
      const wasm = await reproduceTables({ ...setup, checkpoint: await tinyModel(), backend });
      expect(wasm.protocol).toContain(`model ${"ab".repeat(32)}; backend wasm-simd x2 | `);
      expect(wasm.protocol).toContain(`(sha256 ${"ab".repeat(8)})`);
      expect(wasm.protocol).not.toContain("checksum unknown");
      expect(Math.abs(wasm.dense - js.dense) / js.dense).toBeLessThan(1e-5);
      for (const [i, r] of js.runs.entries()) {
        expect(Math.abs((wasm.runs[i]?.ppl ?? 0) - r.ppl) / r.ppl, `${r.method} ${r.level}`).toBeLessThan(
          1e-4,
        );
      }
    } finally {
      await backend.dispose();
    }
  });

  it("prunes with the third-party scorer plugin", async () => {
    const checkpoint = await tinyModel();
    const tokens = Int32Array.from({ length: 32 }, (_, i) => 2 + (i % 20));
    const { report } = await prune({
      checkpoint,
      method: "wanda",
      scorer: sqrtActivation(),
      sparsity: 0.5,
      calibration: { tokens, nsamples: 2, seqlen: 16 },
    });
    expect(report.scorer).toBe("acme/sqrt-activation");
    expect(report.overallSparsity).toBe(0.5);
  });
});
