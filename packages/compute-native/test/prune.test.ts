// The native backend under the real pipeline. stories260K (every matmul below the threshold): Wanda
// and SparseGPT prune to the wasm backend's weights bit for bit, with no onnxruntime call. A model
// with 256-wide linears (matmuls above the threshold): onnxruntime does run, and the forward pass and
// the Wanda masks agree with wasm to float32 rounding.
import { readFile } from "node:fs/promises";
import { isWasmSimdSupported } from "@mama-prune/compute-wasm";
import { createWasmBackendNode } from "@mama-prune/compute-wasm/node";
import { type ComputeBackend, createRng } from "@mama-prune/core";
import { LINEAR_NAMES, type LlamaModel, loadLlama } from "@mama-prune/model";
import { prune } from "@mama-prune/pipeline";
import {
  type Checkpoint,
  memoryCheckpointDir,
  readHfCheckpoint,
  readLlama2c,
  type SafetensorsEntry,
  writeHfCheckpoint,
} from "@mama-prune/tensor-io";
import { afterAll, describe, expect, it } from "vitest";
import { loadOnnxRuntime } from "../src/node/index.ts";
import { createNativeBackend } from "../src/node/native-node.ts";

const installed = await loadOnnxRuntime().then(
  () => true,
  () => false,
);

const stories = await readLlama2c(
  new Uint8Array(await readFile(new URL("../../../data/stories260K/stories260K.bin", import.meta.url))),
  "stories260K.bin",
);

function calibration(vocab: number, nsamples: number, seqlen: number) {
  const rng = createRng(7);
  return { tokens: Int32Array.from({ length: nsamples * seqlen }, () => rng.int(vocab)), nsamples, seqlen };
}

/** A seeded random Llama with 256-wide attention and a 768-wide MLP (2 blocks, vocab 512). */
async function wideModel(): Promise<Checkpoint> {
  const [H, I, V] = [256, 768, 512];
  const rng = createRng(3);
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
    for (const n of ["q", "k", "v", "o"]) add(`${p}.self_attn.${n}_proj.weight`, [H, H], 0.06);
    add(`${p}.mlp.gate_proj.weight`, [I, H], 0.06);
    add(`${p}.mlp.up_proj.weight`, [I, H], 0.06);
    add(`${p}.mlp.down_proj.weight`, [H, I], 0.04);
  }
  add("model.norm.weight", [H], 0.1, 1);
  add("lm_head.weight", [V, H], 0.06);
  const dir = memoryCheckpointDir("wide");
  await writeHfCheckpoint(dir, {
    config: {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: H,
      intermediate_size: I,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      vocab_size: V,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: false,
      max_position_embeddings: 256,
      hidden_act: "silu",
    },
    tensors,
  });
  return readHfCheckpoint(dir);
}

const weights = (model: LlamaModel): Float32Array[] =>
  Array.from({ length: model.config.numLayers }, (_, l) =>
    LINEAR_NAMES.map((n) => model.getLinearWeight(l, n).slice()),
  ).flat();

describe.skipIf(!installed || !isWasmSimdSupported())("the native backend in the pipeline", () => {
  const open: ComputeBackend[] = [];
  afterAll(async () => {
    for (const b of open) await b.dispose?.();
  });

  for (const method of ["wanda", "sparsegpt"] as const) {
    it(`stories260K, ${method} 0.5 (8 × 128): the wasm backend's pruned weights bit for bit, no onnxruntime call`, async () => {
      const wasm = await createWasmBackendNode({ threads: 2 });
      const native = await createNativeBackend({ threads: 2 });
      open.push(wasm, native);
      const calib = calibration(512, 8, 128);
      const run = async (backend: ComputeBackend) =>
        prune({
          model: await loadLlama(stories, { backend }),
          backend,
          method,
          sparsity: 0.5,
          calibration: calib,
        });
      const a = await run(wasm);
      const b = await run(native);
      expect(native.stats().nativeCalls).toBe(0);
      expect(native.stats().delegatedCalls).toBeGreaterThan(50);
      const wa = weights(a.model);
      const wb = weights(b.model);
      expect(wb.length).toBe(5 * 7);
      for (let i = 0; i < wa.length; i++) expect(wb[i]).toEqual(wa[i]);
      expect(b.report.overallSparsity).toBe(a.report.overallSparsity);
      // and the prune did something: half of every linear is zero
      expect(wb[0]!.filter((v) => v === 0).length).toBe(wb[0]!.length / 2);
    });
  }

  it("a 256-wide model runs its large matmuls on onnxruntime: logits and Wanda masks match wasm to rounding", async () => {
    const ckpt = await wideModel();
    const wasm = await createWasmBackendNode({ threads: 2 });
    const native = await createNativeBackend({ threads: 2 });
    open.push(wasm, native);
    const tokens = calibration(512, 1, 128).tokens;
    const la = await (await loadLlama(ckpt, { backend: wasm })).forward(tokens, 1, 128);
    const before = native.stats().nativeCalls;
    const lb = await (await loadLlama(ckpt, { backend: native })).forward(tokens, 1, 128);
    expect(native.stats().nativeCalls - before).toBeGreaterThanOrEqual(2 * 3); // q,k,v,o,gate,up,down ≥ 256² with 128 rows
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < la.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(la[i]!));
      maxDiff = Math.max(maxDiff, Math.abs(la[i]! - lb[i]!));
    }
    expect(maxDiff / maxAbs).toBeLessThan(1e-5);
    expect(maxDiff).toBeGreaterThan(0); // it is not the wasm kernel in disguise
    const calib = calibration(512, 4, 128);
    const run = async (backend: ComputeBackend) =>
      prune({
        model: await loadLlama(ckpt, { backend }),
        backend,
        method: "wanda",
        sparsity: 0.5,
        calibration: calib,
      });
    const wa = weights((await run(wasm)).model);
    const wb = weights((await run(native)).model);
    let differ = 0;
    let total = 0;
    for (let i = 0; i < wa.length; i++) {
      for (let j = 0; j < wa[i]!.length; j++) if ((wa[i]![j] === 0) !== (wb[i]![j] === 0)) differ++;
      total += wa[i]!.length;
    }
    expect(differ / total).toBeLessThan(1e-3); // near-ties of the Wanda score may flip
  });
});
