// Measure MAMA's defaults on the CALIBRATION side only (never the evaluation split):
// the calibration split (last 15 % of paragraphs) is cut again into a tuning-calibration part (its first
// two thirds, where windows are drawn) and a held-out tuning part (its last third, scored by perplexity).
// Every candidate × level is one run of the pipeline's sweep (the candidates are its columns).
// Writes results/mama-tuning.{md,json}. Run: npm run tune -w @mama-prune-examples/reproduce-table2
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createDefaultCpuBackend } from "@mama-prune/compute-wasm/node";
import type { ComputeBackend } from "@mama-prune/core";
import { cachingTokenizer, type PerplexityResult, perplexity } from "@mama-prune/eval";
import { createCpuBackend, createLlama2cTokenizer, type LlamaModel } from "@mama-prune/model";
import {
  calibrationWindows,
  evaluationProtocol,
  type PruneMethod,
  type Redistribution,
  splitCalibrationText,
  sweep,
} from "@mama-prune/pipeline";
import type { MamaOptions } from "@mama-prune/scoring";
import { type Checkpoint, readLlama2c, readLlama2cTokenizer } from "@mama-prune/tensor-io";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const LEVELS = [0.5, 0.7] as const;
const CAL = { nsamples: 16, seqlen: 256, seed: 0 } as const;
const HELD_OUT = { seqlen: 256, maxWindows: 8 } as const;

interface Candidate {
  readonly label: string;
  readonly method: PruneMethod;
  readonly mama?: MamaOptions;
  readonly redistribution?: Redistribution;
}

interface Measured {
  readonly model: string;
  readonly label: string;
  readonly ppl: Record<string, number>;
  readonly meanLogPpl: number;
}

async function main(backend: ComputeBackend): Promise<void> {
  const bytes = async (p: string): Promise<Uint8Array> => new Uint8Array(await readFile(`${root}${p}`));
  const tok = cachingTokenizer(
    createLlama2cTokenizer(readLlama2cTokenizer(await bytes("data/stories260K/tok512.bin"), 512)),
  );
  const text = await readFile(`${root}data/tinystories/tinystories_val.txt`, "utf8");
  const outer = splitCalibrationText(text);
  const inner = splitCalibrationText(outer.calibration, { calibrationFraction: 1 / 3 });
  const cal = calibrationWindows(tok.encode(inner.evaluation, { bos: false, eos: false }), CAL);
  const heldOut = inner.calibration;
  const score = async (model: LlamaModel): Promise<PerplexityResult> => {
    const r = await perplexity(model, tok, heldOut, {
      ...HELD_OUT,
      datasetName: "held-out tuning slice",
      backendName: model.backend.name,
    });
    return r;
  };
  const base = await readLlama2c(await bytes("data/stories260K/stories260K.bin"), "stories260K.bin");
  const ftBase = await readLlama2c(
    await bytes("data/stories260K-finetune/stories260K_base_dequant_f32.bin"),
    "stories260K_base_dequant_f32.bin",
  );
  const ft = await readLlama2c(
    await bytes("data/stories260K-finetune/stories260K_qat_finalpolishstrong_seq256_dequant_f32.bin"),
    "stories260K_qat_finalpolishstrong_seq256_dequant_f32.bin",
  );

  const results: Measured[] = [];
  let protocol = "";
  const run = async (
    model: string,
    checkpoint: Checkpoint,
    c: Candidate,
    preCheckpoint?: Checkpoint,
  ): Promise<void> => {
    const ppl: Record<string, number> = {};
    await sweep({
      methods: [
        {
          label: c.label,
          options: {
            method: c.method,
            ...(c.mama !== undefined ? { mama: c.mama } : {}),
            ...(c.redistribution !== undefined ? { redistribution: c.redistribution } : {}),
          },
        },
      ],
      levels: LEVELS,
      prune: { checkpoint, backend, ...(preCheckpoint !== undefined ? { preCheckpoint } : {}) },
      calibrations: [{ seed: CAL.seed, windows: cal }],
      evaluate: async (m) => {
        const r = await score(m);
        protocol = evaluationProtocol(r);
        return r.ppl;
      },
      onRow: (row) => {
        ppl[row.level] = row.value;
      },
    });
    const meanLogPpl = LEVELS.reduce((a, s) => a + Math.log(ppl[String(s)]!), 0) / LEVELS.length;
    results.push({ model, label: c.label, ppl, meanLogPpl });
    console.log(model, c.label.padEnd(44), LEVELS.map((s) => ppl[String(s)]!.toFixed(3)).join("  "));
  };

  // ---- Grid 1: stories260K (no pre-trained ancestor: movement off) ----
  const terms: { label: string; o: MamaOptions }[] = [
    { label: "mag 1", o: { magnitudeWeight: 1, activationWeight: 0 } },
    { label: "act 1", o: { magnitudeWeight: 0, activationWeight: 1 } },
    { label: "mag 1 + act 1 (rank)", o: { magnitudeWeight: 1, activationWeight: 1, normalize: "rank" } },
    { label: "mag 1 + act 1 (zscore)", o: { magnitudeWeight: 1, activationWeight: 1, normalize: "zscore" } },
    { label: "mag 1 + act 3 (rank)", o: { magnitudeWeight: 1, activationWeight: 3, normalize: "rank" } },
    { label: "mag 1 + act 3 (zscore)", o: { magnitudeWeight: 1, activationWeight: 3, normalize: "zscore" } },
  ];
  const redists: Redistribution[] = ["none", "refit", "sparsegpt"];
  await run("stories260K", base, { label: "baseline wanda", method: "wanda" });
  await run("stories260K", base, { label: "baseline sparsegpt", method: "sparsegpt" });
  for (const t of terms) {
    for (const r of redists) {
      await run("stories260K", base, {
        label: `${t.label}, ${r}`,
        method: "mama",
        mama: { ...t.o, group: "row", useActivations: true },
        redistribution: r,
      });
    }
  }
  const grid1 = results.filter((x) => x.model === "stories260K" && !x.label.startsWith("baseline"));
  const best = grid1.reduce((a, b) => (b.meanLogPpl < a.meanLogPpl ? b : a));

  // ---- Grid 2: the fine-tuned pair (prune the fine-tune; W⁰ = the dequantized base) ----
  const bestCand = {
    terms: terms.find((t) => best.label.startsWith(`${t.label},`))!,
    redistribution: best.label.split(", ").at(-1) as Redistribution,
  };
  await run("finetune", ft, { label: "baseline wanda", method: "wanda" });
  await run("finetune", ft, { label: "baseline sparsegpt", method: "sparsegpt" });
  for (const mw of [0, 0.25, 0.5, 1]) {
    await run(
      "finetune",
      ft,
      {
        label: `${bestCand.terms.label} + movement ${mw}, ${bestCand.redistribution}`,
        method: "mama",
        mama: {
          ...bestCand.terms.o,
          group: "row",
          useActivations: true,
          useMovement: mw > 0,
          movementWeight: mw,
        },
        redistribution: bestCand.redistribution,
      },
      mw > 0 ? ftBase : undefined,
    );
  }

  const lines = [
    "# MAMA defaults, measured on the calibration side",
    "",
    `Protocol: ${outer.protocol}; the calibration split is cut again: ${inner.protocol.replace("evaluation", "tuning-calibration").replace("= calibration", "= held-out")}.`,
    `Calibration windows: ${cal.protocol} (from the tuning-calibration part). Held-out score: ${protocol}; backend ${backend.name}.`,
    `Levels ${LEVELS.join(", ")}; ranking by mean log-perplexity over the levels. The evaluation split is never used here.`,
    "",
    "| model | candidate | ppl @0.5 | ppl @0.7 | mean log ppl |",
    "|---|---|---:|---:|---:|",
    ...results.map(
      (r) =>
        `| ${r.model} | ${r.label} | ${r.ppl["0.5"]!.toFixed(3)} | ${r.ppl["0.7"]!.toFixed(3)} | ${r.meanLogPpl.toFixed(4)} |`,
    ),
    "",
    `Best on stories260K: **${best.label}** (mean log ppl ${best.meanLogPpl.toFixed(4)}).`,
  ];
  await mkdir(`${root}results`, { recursive: true });
  await writeFile(`${root}results/mama-tuning.md`, `${lines.join("\n")}\n`);
  await writeFile(
    `${root}results/mama-tuning.json`,
    `${JSON.stringify({ levels: LEVELS, calibration: cal.protocol, heldOut: protocol, results, best: best.label }, null, 2)}\n`,
  );
  console.log(`best: ${best.label}`);
}

// WebAssembly SIMD on all cores when available, else the plain JS reference (`-- --backend js`).
const bi = process.argv.indexOf("--backend");
const prefer = bi >= 0 ? process.argv[bi + 1] : "auto";
if (prefer !== "auto" && prefer !== "wasm" && prefer !== "js") {
  throw new RangeError(`tune-mama --backend: expected auto, wasm or js, got ${JSON.stringify(prefer)}`);
}
const backend = await createDefaultCpuBackend({ fallback: createCpuBackend, prefer });
try {
  await main(backend);
} finally {
  await backend.dispose();
}
