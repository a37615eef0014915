// Pruning wall time per method and peak memory (RSS), on the bundled stories260K model and on a synthetic
// realistic-shape Llama (hidden 1024, 8 layers, MLP 2816, vocab 32000; seeded random weights written to a
// temporary safetensors folder first). Writes bench-results/prune.{json,md}.
// Run: npm run bench -w @mama-prune/pipeline   [-- --quick]  (--quick: bundled model only)
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRng } from "@mama-prune/core";
import { createLlama2cTokenizer } from "@mama-prune/model";
import type { SafetensorsEntry } from "@mama-prune/tensor-io";
import { readLlama2c, readLlama2cTokenizer } from "@mama-prune/tensor-io";
import { openCheckpoint, writeHfCheckpointFolder } from "@mama-prune/tensor-io/node";
import {
  type CalibrationInput,
  calibrationWindows,
  type PruneMethod,
  type PruneOptions,
  prune,
  splitCalibrationText,
} from "../src/index.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const out = fileURLToPath(new URL("../bench-results/", import.meta.url));
const quick = process.argv.includes("--quick");

interface Row {
  model: string;
  method: string;
  sparsity: string;
  calibration: string;
  wallTimeS: number;
  peakRssMiB: number;
  rssBeforeMiB: number;
  overallSparsity: number;
}

async function measure(
  label: string,
  fn: () => Promise<{ overallSparsity: number }>,
): Promise<Omit<Row, "model" | "method" | "sparsity" | "calibration">> {
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const t0 = performance.now();
  const r = await fn();
  const t = (performance.now() - t0) / 1000;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(`${label}: ${t.toFixed(2)} s, peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`);
  return {
    wallTimeS: t,
    peakRssMiB: peak / 2 ** 20,
    rssBeforeMiB: before / 2 ** 20,
    overallSparsity: r.overallSparsity,
  };
}

const rows: Row[] = [];
const machine = `${cpus()[0]?.model ?? "cpu"}, ${availableParallelism()} cores (shared), Node ${process.version}, backend js (createCpuBackend)`;

/** Rewrite bench-results/prune.{json,md} with the rows so far (a long run leaves partial results). */
async function flush(): Promise<void> {
  await mkdir(out, { recursive: true });
  await writeFile(
    join(out, "prune.json"),
    `${JSON.stringify({ machine, date: new Date().toISOString(), rows }, null, 2)}\n`,
  );
  const md = [
    "# Pruning benchmark",
    "",
    `Machine: ${machine}. Peak RSS is the whole process (sampled every 20 ms), including the loaded model.`,
    "",
    "| model | method | sparsity | calibration | wall time (s) | peak RSS (MiB) | RSS before (MiB) | overall sparsity |",
    "|---|---|---|---|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.method} | ${r.sparsity} | ${r.calibration} | ${r.wallTimeS.toFixed(2)} | ${r.peakRssMiB.toFixed(0)} | ${r.rssBeforeMiB.toFixed(0)} | ${r.overallSparsity.toFixed(4)} |`,
    ),
  ];
  await writeFile(join(out, "prune.md"), `${md.join("\n")}\n`);
}

// ---- Bundled stories260K ----
{
  const bytes = async (p: string): Promise<Uint8Array> => new Uint8Array(await readFile(`${root}${p}`));
  const checkpoint = await readLlama2c(await bytes("data/stories260K/stories260K.bin"), "stories260K.bin");
  const pre = await readLlama2c(
    await bytes("data/stories260K-finetune/stories260K_base_dequant_f32.bin"),
    "base",
  );
  const tok = createLlama2cTokenizer(readLlama2cTokenizer(await bytes("data/stories260K/tok512.bin"), 512));
  const text = await readFile(`${root}data/tinystories/tinystories_val.txt`, "utf8");
  const split = splitCalibrationText(text);
  const cal = calibrationWindows(tok.encode(split.calibration, { bos: false, eos: false }), {
    nsamples: 16,
    seqlen: 256,
    seed: 0,
  });
  const methods: PruneMethod[] = [
    "magnitude",
    "neg-magnitude",
    "wanda",
    "sparsegpt",
    "ria",
    "movement",
    "mama",
  ];
  for (const method of methods) {
    for (const sparsity of [0.5, { n: 2, m: 4 }] as const) {
      const opts: PruneOptions = {
        checkpoint,
        method,
        sparsity,
        calibration: cal,
        ...(method === "movement" ? { preCheckpoint: pre } : {}),
      };
      const s = typeof sparsity === "number" ? String(sparsity) : "2:4";
      const m = await measure(`stories260K ${method} ${s}`, async () => (await prune(opts)).report);
      rows.push({ model: "stories260K", method, sparsity: s, calibration: "16 × 256", ...m });
      await flush();
    }
  }
}

// ---- Synthetic realistic-shape model ----
if (!quick) {
  const H = 1024;
  const I = 2816;
  const L = 8;
  const V = 32000;
  const heads = 16;
  const dir = await mkdtemp(join(tmpdir(), "prune-bench-"));
  try {
    const rng = createRng(1);
    const tensors: SafetensorsEntry[] = [];
    const add = (name: string, shape: number[], std: number, mean = 0): void => {
      tensors.push({
        name,
        dtype: "F32",
        shape,
        data: () =>
          Float32Array.from({ length: shape[0]! * (shape[1] ?? 1) }, () => mean + std * rng.normal()),
      });
    };
    add("model.embed_tokens.weight", [V, H], 1);
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}`;
      add(`${p}.input_layernorm.weight`, [H], 0.1, 1);
      add(`${p}.post_attention_layernorm.weight`, [H], 0.1, 1);
      for (const [n, o, i] of [
        ["self_attn.q_proj", H, H],
        ["self_attn.k_proj", H, H],
        ["self_attn.v_proj", H, H],
        ["self_attn.o_proj", H, H],
        ["mlp.gate_proj", I, H],
        ["mlp.up_proj", I, H],
        ["mlp.down_proj", H, I],
      ] as const)
        add(`${p}.${n}.weight`, [o, i], 1 / Math.sqrt(i));
    }
    add("model.norm.weight", [H], 0.1, 1);
    add("lm_head.weight", [V, H], 1 / Math.sqrt(H));
    const config = {
      model_type: "llama",
      hidden_size: H,
      intermediate_size: I,
      num_hidden_layers: L,
      num_attention_heads: heads,
      num_key_value_heads: heads,
      vocab_size: V,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: false,
      max_position_embeddings: 2048,
    };
    const folder = join(dir, "synthetic");
    const tw = performance.now();
    await writeHfCheckpointFolder(folder, { config, tensors });
    console.log(`synthetic checkpoint written in ${((performance.now() - tw) / 1000).toFixed(1)} s`);
    const checkpoint = await openCheckpoint(folder);
    const nsamples = 2;
    const seqlen = 128;
    const tokens = Int32Array.from({ length: nsamples * seqlen }, () => rng.int(V));
    const cal: CalibrationInput = {
      tokens,
      nsamples,
      seqlen,
      protocol: `${nsamples} random windows × ${seqlen}`,
    };
    for (const method of ["magnitude", "wanda", "sparsegpt", "mama"] as const) {
      const m = await measure(
        `synthetic ${method} 0.5`,
        async () =>
          (await prune({ checkpoint, method, sparsity: 0.5, calibration: cal, reconstructionError: false }))
            .report,
      );
      rows.push({
        model: "synthetic 1024×8, MLP 2816, vocab 32000",
        method,
        sparsity: "0.5",
        calibration: `${nsamples} × ${seqlen}`,
        ...m,
      });
      await flush();
    }
    await checkpoint.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(`wrote ${join(out, "prune.md")}`);
