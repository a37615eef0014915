// Peak memory of in-memory `prune` vs streaming `pruneToCheckpoint` on the synthetic realistic-shape model
// (hidden 1024, 8 layers, MLP 2816, vocab 32000). Each measurement runs in its own process so the peak RSS
// (process.resourceUsage().maxRSS) belongs to that run alone. Writes bench-results/stream.{json,md}.
// Run: npx tsx --conditions @mama-prune/source bench/stream.bench.ts
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRng } from "@mama-prune/core";
import type { SafetensorsEntry } from "@mama-prune/tensor-io";
import {
  createCheckpointDirWriter,
  openCheckpoint,
  writeHfCheckpointFolder,
} from "@mama-prune/tensor-io/node";
import { type CalibrationInput, prune, pruneToCheckpoint } from "../src/index.ts";

const H = 1024;
const I = 2816;
const L = 8;
const V = 32000;
const [mode, folder, method, outDir] = process.argv.slice(2);

function calibration(): CalibrationInput {
  const rng = createRng(5);
  const nsamples = 2;
  const seqlen = 128;
  return { tokens: Int32Array.from({ length: nsamples * seqlen }, () => rng.int(V)), nsamples, seqlen };
}

if (mode === "memory" || mode === "stream") {
  // Child: one measurement.
  const checkpoint = await openCheckpoint(folder!);
  const t0 = performance.now();
  const opts = {
    checkpoint,
    method: method as "magnitude" | "wanda",
    sparsity: 0.5,
    calibration: calibration(),
  };
  if (mode === "memory") await prune(opts);
  else await pruneToCheckpoint(await createCheckpointDirWriter(outDir!), opts);
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ seconds: s, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

// Parent: write the synthetic model once, then measure each (mode, method) in a child process.
const dir = await mkdtemp(join(tmpdir(), "prune-stream-"));
try {
  const rng = createRng(1);
  const tensors: SafetensorsEntry[] = [];
  const add = (name: string, shape: number[], std: number, mean = 0): void => {
    tensors.push({
      name,
      dtype: "F32",
      shape,
      data: () => Float32Array.from({ length: shape[0]! * (shape[1] ?? 1) }, () => mean + std * rng.normal()),
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
    num_attention_heads: 16,
    num_key_value_heads: 16,
    vocab_size: V,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: false,
    max_position_embeddings: 2048,
  };
  const folderPath = join(dir, "synthetic");
  await writeHfCheckpointFolder(folderPath, { config, tensors });
  const rows: { mode: string; method: string; seconds: number; maxRssMiB: number }[] = [];
  const self = fileURLToPath(import.meta.url);
  for (const m of ["magnitude", "wanda"]) {
    for (const mo of ["memory", "stream"]) {
      const outPath = join(dir, `out-${mo}-${m}`);
      const stdout = execFileSync(
        process.execPath,
        ["--import", "tsx", "--conditions", "@mama-prune/source", self, mo, folderPath, m, outPath],
        { encoding: "utf8", maxBuffer: 1 << 20 },
      );
      const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as { seconds: number; maxRssMiB: number };
      rows.push({ mode: mo, method: m, ...r });
      console.log(mo, m, r);
      await rm(outPath, { recursive: true, force: true });
    }
  }
  const out = fileURLToPath(new URL("../bench-results/", import.meta.url));
  await mkdir(out, { recursive: true });
  await writeFile(
    join(out, "stream.json"),
    `${JSON.stringify({ model: "synthetic 1024×8, MLP 2816, vocab 32000 (F32 on disk ≈ 545 MB)", calibration: "2 × 128 random tokens", rows }, null, 2)}\n`,
  );
  const md = [
    "# In-memory prune vs streaming pruneToCheckpoint (peak RSS per process)",
    "",
    "Synthetic realistic-shape Llama (hidden 1024, 8 layers, MLP 2816, vocab 32000, untied; ≈ 545 MB of F32 weights), sparsity 0.5, calibration 2 × 128 random tokens, plain JS backend. Streaming also writes the pruned folder (dense).",
    "",
    "| mode | method | wall time (s) | peak RSS (MiB) |",
    "|---|---|---:|---:|",
    ...rows.map((r) => `| ${r.mode} | ${r.method} | ${r.seconds.toFixed(1)} | ${r.maxRssMiB.toFixed(0)} |`),
  ];
  await writeFile(join(out, "stream.md"), `${md.join("\n")}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
