// `mama-prune distill` and `mama-prune grpo` end to end on the bundled stories260K, with tiny settings:
// the student's zeros are kept bit for bit, the written folder loads and evaluates to the reported
// perplexity, losses / rewards are reported, the reward-weighted calibration file is well formed, and
// bad flags are one-line errors.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isBlockLinear } from "@mama-prune/tensor-io";
import { openCheckpoint } from "@mama-prune/tensor-io/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLED_MODEL, createWorkspace, runCli, type Workspace } from "../test/fixtures/workspace.ts";

let ws: Workspace;
/** stories260K pruned with magnitude to 50 % (a llama2.c model → an HF folder with both tokenizers). */
let student: string;
beforeAll(async () => {
  ws = await createWorkspace();
  const r = await runCli(
    ["prune", BUNDLED_MODEL, "--method", "magnitude", "--sparsity", "0.5", "--out", "mag50", "--quiet"],
    ws.dir,
  );
  expect(r.code).toBe(0);
  student = join(ws.dir, "mag50");
  await writeFile(join(ws.dir, "prompts.txt"), "Once upon a time\nOne day\n");
}, 60_000);
afterAll(async () => {
  await ws.cleanup();
});

/** Every failure is exactly one line on stderr, names its problem, and has no stack trace. */
function expectOneLineError(r: { code: number; stderr: string }, code: number, pattern: RegExp): void {
  expect(r.code).toBe(code);
  const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^mama-prune: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** Block-linear tensors of a checkpoint as float32, by name. */
async function blockLinears(path: string): Promise<Map<string, Float32Array>> {
  const ckpt = await openCheckpoint(path);
  try {
    const out = new Map<string, Float32Array>();
    for (const t of ckpt.list()) {
      if (isBlockLinear(t.name, t.shape)) out.set(t.name, await ckpt.readF32(t.name));
    }
    return out;
  } finally {
    await ckpt.close();
  }
}

/** Zeros kept: every zero of `before` is zero in `after`; returns [zeros before, zeros after, moved]. */
async function zeroPattern(beforePath: string, afterPath: string): Promise<[number, number, number]> {
  const a = await blockLinears(beforePath);
  const b = await blockLinears(afterPath);
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  let za = 0;
  let zb = 0;
  let moved = 0;
  for (const [name, wa] of a) {
    const wb = b.get(name)!;
    for (let i = 0; i < wa.length; i++) {
      if (wa[i] === 0) za++;
      if (wb[i] === 0) zb++;
      if (wa[i] === 0 && wb[i] !== 0) moved++;
    }
  }
  return [za, zb, moved];
}

const TINY_DISTILL = ["--steps", "3", "--seqlen", "32", "--batch", "2", "--backend", "js"];

describe("mama-prune distill", () => {
  it("distills the pruned student, keeps its zeros exactly, writes a folder that evaluates to the reported ppl", async () => {
    const r = await runCli(
      [
        "distill",
        "mag50",
        "--teacher",
        BUNDLED_MODEL,
        "--text",
        "text.txt",
        ...TINY_DISTILL,
        "--alpha",
        "0.1",
        "--eval",
        "text.txt",
        "--eval-seqlen",
        "64",
        "--eval-windows",
        "3",
        "--out",
        "distilled",
        "--json",
      ],
      ws.dir,
    );
    expect(r.code, r.stderr).toBe(0);
    // Progress off a terminal: one line per reported step, with loss and (from step 2) ETA.
    expect(r.stderr).toMatch(/distill: step 1\/3 {2}loss \d+\.\d{4} \(kl [\d.]+, ce [\d.]+\) {2}elapsed /);
    expect(r.stderr).toMatch(/distill: step 2\/3 .* ETA /);
    const j = JSON.parse(r.stdout);
    expect(j.steps).toBe(3);
    expect(j.losses).toHaveLength(3);
    for (const l of j.losses) expect(Number.isFinite(l) && l > 0).toBe(true);
    expect(j.sparsity).toMatchObject({ sparsityBefore: 0.5, sparsityAfter: 0.5, masksBroken: 0 });
    expect(j.sparsity.zerosAfter).toBe(j.sparsity.zerosBefore);
    expect(j.protocol).toMatch(/^distill: 3 steps × 2 windows × 32 tokens; .*temperature 2, alpha 0\.1$/);
    const out = join(ws.dir, "distilled");
    // Bit for bit: every pruned weight is still exactly zero, and training changed the others.
    const [za, zb, moved] = await zeroPattern(student, out);
    expect([zb, moved]).toEqual([za, 0]);
    expect(za).toBe(j.sparsity.zerosBefore);
    const a = (await blockLinears(student)).get("model.layers.0.mlp.up_proj.weight")!;
    const b = (await blockLinears(out)).get("model.layers.0.mlp.up_proj.weight")!;
    expect(a.some((x, i) => x !== b[i])).toBe(true);
    // The folder: both tokenizer forms, training.json with checksums and the student's pruning.json.
    expect(j.files).toEqual(
      expect.arrayContaining([
        "model.safetensors",
        "config.json",
        "tokenizer.bin",
        "tokenizer.json",
        "tokenizer_config.json",
        "training.json",
      ]),
    );
    const tj = JSON.parse(await readFile(join(out, "training.json"), "utf8"));
    expect(tj.command).toBe("distill");
    expect(tj.settings).toMatchObject({ steps: 3, seqlen: 32, batch: 2, temperature: 2, alpha: 0.1 });
    expect(tj.inputs.map((i: { role: string }) => i.role)).toEqual(
      expect.arrayContaining(["student", "teacher", "text", "tokenizer"]),
    );
    expect(Object.keys(tj.outputs)).toContain("model.safetensors");
    expect(tj.source.pruning.method.name).toBe("magnitude");
    const cfg = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
    expect(cfg.mama_prune_distill.protocol).toBe(j.protocol);
    // `eval` of the written folder gives the perplexity distill reported after training.
    const e = await runCli(
      [
        "eval",
        "distilled",
        "--text",
        "text.txt",
        "--seqlen",
        "64",
        "--windows",
        "3",
        "--backend",
        "js",
        "--json",
      ],
      ws.dir,
    );
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).ppl).toBe(j.eval.after.ppl);
    expect(j.eval.before.ppl).not.toBe(j.eval.after.ppl);
  }, 60_000);

  it("runs from a recipe (distill: section), flags overriding it", async () => {
    await writeFile(
      join(ws.dir, "distill.yaml"),
      "model: mag50\ndistill:\n  teacher: model\n  text: text.txt\n  steps: 5\n  seqlen: 16\n  batch: 1\n  temperature: 1\noutput:\n  dir: from-recipe\n",
    );
    // The teacher must share the student's vocabulary: the workspace's tiny model has 512 ids too,
    // but a different width — distillation only needs logits, so it is a valid (if odd) teacher.
    const r = await runCli(
      ["distill", "--recipe", "distill.yaml", "--steps", "2", "--json", "--quiet"],
      ws.dir,
    );
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.losses).toHaveLength(2);
    expect(j.protocol).toMatch(/^distill: 2 steps × 1 windows × 16 tokens; .*temperature 1, alpha 0$/);
    const tj = JSON.parse(await readFile(join(ws.dir, "from-recipe", "training.json"), "utf8"));
    expect(tj.recipe.content.distill.steps).toBe(5);
    expect(tj.inputs.map((i: { role: string }) => i.role)).toContain("recipe");
  }, 60_000);

  it("refuses bad flags and inputs with one line, before any training", async () => {
    const base = ["distill", "mag50", "--teacher", BUNDLED_MODEL, "--text", "text.txt"];
    expectOneLineError(
      await runCli([...base, "--alpha", "2"], ws.dir),
      2,
      /--alpha: expected a number in \[0, 1\], got "2"/,
    );
    expectOneLineError(await runCli([...base, "--temp", "2"], ws.dir), 2, /distill: Unknown option '--temp'/);
    expectOneLineError(
      await runCli(["distill", "mag50", "--text", "text.txt"], ws.dir),
      2,
      /missing --teacher/,
    );
    expectOneLineError(
      await runCli([...base, "--out", "distilled", "--quiet"], ws.dir),
      2,
      /TENSOR_IO_EXISTS: --out .*distilled: destination folder is not empty/,
    );
    expectOneLineError(
      await runCli([...base, "--seqlen", "600", "--out", "x600", "--quiet"], ws.dir),
      2,
      /CALIBRATION_INVALID: distill: --seqlen 600 exceeds the student's context. Expected at most 512/,
    );
  }, 60_000);
});

describe("mama-prune grpo", () => {
  const TINY_GRPO = [
    "--prompts",
    "prompts.txt",
    "--steps",
    "2",
    "--group-size",
    "2",
    "--max-new-tokens",
    "8",
    "--calibration-seqlen",
    "12",
    "--calibration-group-size",
    "3",
    "--backend",
    "js",
  ];

  it("post-trains with contains-word, keeps zeros, writes reward-calibration.json and a folder that evaluates", async () => {
    const r = await runCli(
      ["grpo", "mag50", "--word", "park", ...TINY_GRPO, "--out", "grpo-park", "--json"],
      ws.dir,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/grpo: step 1\/2 {2}reward \d\.\d{3} {2}kl /);
    const j = JSON.parse(r.stdout);
    expect(j.verifier).toBe("contains-word-park");
    expect(j.rewards).toHaveLength(2);
    for (const x of j.rewards) expect(x >= 0 && x <= 1).toBe(true);
    expect(j.kls).toHaveLength(2);
    expect(j.sparsity).toMatchObject({ sparsityBefore: 0.5, sparsityAfter: 0.5, masksBroken: 0 });
    const out = join(ws.dir, "grpo-park");
    const [za, zb, moved] = await zeroPattern(student, out);
    expect([zb, moved]).toEqual([za, 0]);
    // reward-calibration.json: windows of 12 ids with weights ≥ 0 of mean 1.
    const cal = JSON.parse(await readFile(join(out, "reward-calibration.json"), "utf8"));
    expect(cal.format).toBe("mama-prune reward-weighted calibration v1");
    expect(cal.seqlen).toBe(12);
    expect(cal.nsamples).toBe(j.calibration.nsamples);
    expect(cal.nsamples).toBeGreaterThan(0);
    expect(cal.nsamples).toBeLessThanOrEqual(2 * 3);
    expect(cal.weights).toHaveLength(cal.nsamples);
    expect(cal.tokens).toHaveLength(cal.nsamples);
    for (const w of cal.tokens) {
      expect(w).toHaveLength(12);
      for (const id of w) expect(Number.isInteger(id) && id >= 0 && id < 512).toBe(true);
    }
    const mean = cal.weights.reduce((a: number, b: number) => a + b, 0) / cal.weights.length;
    expect(mean).toBeCloseTo(1, 6);
    for (const w of cal.weights) expect(w).toBeGreaterThanOrEqual(0);
    expect(cal.protocol).toMatch(/verifier contains-word-park/);
    const tj = JSON.parse(await readFile(join(out, "training.json"), "utf8"));
    expect(tj.verifier).toMatchObject({ name: "contains-word-park", word: "park" });
    expect(tj.rewards).toEqual(j.rewards);
    expect(Object.keys(tj.outputs)).toContain("reward-calibration.json");
    const e = await runCli(
      ["eval", "grpo-park", "--text", "text.txt", "--seqlen", "64", "--windows", "2"],
      ws.dir,
    );
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/^ppl \d+\.\d{4}\n/);
  }, 60_000);

  it("loads a verifier plugin module from a recipe (factory called with its options)", async () => {
    await writeFile(
      join(ws.dir, "long-verifier.mjs"),
      "export const verifier = (o) => ({ name: 'acme/longer-than', apiVersion: 1, verify: (_p, c) => (c.length > o.chars ? 1 : 0) });\n",
    );
    await writeFile(
      join(ws.dir, "grpo.yaml"),
      "model: mag50\ngrpo:\n  verifier:\n    package: ./long-verifier.mjs\n    options: { chars: 20 }\n  prompts: prompts.txt\n  steps: 1\n  groupSize: 2\n  maxNewTokens: 8\n  rewardCalibration: false\noutput:\n  dir: grpo-plugin\n",
    );
    const r = await runCli(["grpo", "--recipe", "grpo.yaml", "--json", "--quiet", "--backend", "js"], ws.dir);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.verifier).toBe("acme/longer-than");
    expect(j.rewards).toHaveLength(1);
    expect(j.calibration).toBeUndefined();
    expect(j.files).not.toContain("reward-calibration.json");
  }, 60_000);

  it("refuses a missing word, an unloadable verifier, bad flags and bad prompts with one line", async () => {
    expectOneLineError(
      await runCli(["grpo", "mag50", "--prompts", "prompts.txt", "--out", "g1"], ws.dir),
      2,
      /SCORER_NOT_FOUND: verifier contains-word: which word\? Expected --word <word>/,
    );
    expectOneLineError(
      await runCli(
        ["grpo", "mag50", "--prompts", "prompts.txt", "--verifier", "./nope.mjs", "--out", "g2"],
        ws.dir,
      ),
      2,
      /SCORER_NOT_FOUND: plugin "\.\/nope\.mjs": cannot be loaded/,
    );
    expectOneLineError(
      await runCli(["grpo", "mag50", "--prompts", "prompts.txt", "--word", "park", "--top-p", "0"], ws.dir),
      2,
      /--top-p: expected a number in \(0, 1\], got "0"/,
    );
    await writeFile(join(ws.dir, "bad.jsonl"), '"Once upon a time"\n{"text": 1}\n');
    expectOneLineError(
      await runCli(
        ["grpo", "mag50", "--prompts", "bad.jsonl", "--word", "park", "--out", "g3", "--quiet"],
        ws.dir,
      ),
      2,
      /CALIBRATION_INVALID: .*bad\.jsonl:2: not a prompt/,
    );
  }, 60_000);
});
