// Defaults that would quietly change the experiment: the calibration size, and flags over recipes.
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readLlama2c } from "@mama-prune/tensor-io";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BUNDLED_MODEL,
  BUNDLED_TEXT,
  createWorkspace,
  runCli,
  type Workspace,
} from "../test/fixtures/workspace.ts";
import { checkCalibrationLength, resolveCalibrationSize } from "./calibration-protocol.ts";
import { overrideMethodName } from "./overrides.ts";

let ws: Workspace;
beforeAll(async () => {
  ws = await createWorkspace();
  await copyFile(BUNDLED_TEXT, join(ws.dir, "long.txt"));
});
afterAll(async () => {
  await ws.cleanup();
});

describe("calibration defaults: the anchors' protocol", () => {
  it("is 128 windows × min(2048, context): 512 for stories260K (llama2.c seq_len), 2048 for a 4096 context", async () => {
    const ckpt = await readLlama2c(new Uint8Array(await readFile(BUNDLED_MODEL)), "stories260K.bin");
    const s = resolveCalibrationSize({}, ckpt.config, "stories260K.bin");
    expect([s.nsamples, s.seqlen, s.defaulted]).toEqual([128, 512, true]);
    expect(s.description).toBe(
      "128 windows × 512 tokens (default: the anchors' protocol, 128 windows, seqlen min(2048, context 512))",
    );
    const big = { ...ckpt.config, max_position_embeddings: 4096 };
    expect(resolveCalibrationSize({}, big, "m").seqlen).toBe(2048);
    const given = resolveCalibrationSize({ nsamples: 16, seqlen: 256 }, big, "m");
    expect([given.nsamples, given.seqlen, given.defaulted, given.description]).toEqual([
      16,
      256,
      false,
      "16 windows × 256 tokens",
    ]);
    expect(resolveCalibrationSize({ nsamples: 4 }, big, "m").seqlen).toBe(2048);
  });

  it("refuses a text too short for that many disjoint windows, naming text, tokens and flags", () => {
    expect(() => checkCalibrationLength(41067, 128, 512, "val.txt (calibration split)")).toThrow(
      /^val\.txt \(calibration split\): calibration text too short for 128 disjoint windows of 512 tokens\. Expected at least 65536 tokens, got 41067; .*--nsamples \/ --seqlen .*--nsamples 80\.$/,
    );
    expect(() => checkCalibrationLength(65536, 128, 512, "t")).not.toThrow();
  });

  it("prune without --nsamples/--seqlen calibrates on 128 × 64 (the tiny model's context) and says so", async () => {
    const r = await runCli(
      [
        "prune",
        "model",
        "--method",
        "wanda",
        "--sparsity",
        "0.5",
        "--calibration",
        "long.txt",
        "--out",
        "w-default",
      ],
      ws.dir,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /\ncalibration: 128 windows × 64 tokens drawn from a \d+-token stream, .*\(default: the anchors' protocol, 128 windows, seqlen min\(2048, context 64\)\)\n/,
    );
    expect(r.stderr).toContain("calibration 128 windows × 64 tokens (default");
    const pj = JSON.parse(await readFile(join(ws.dir, "w-default", "pruning.json"), "utf8"));
    expect(pj.calibration).toMatchObject({ nsamples: 128, seqlen: 64, seed: 0, defaulted: true });
  });

  it("says clearly when the text is too short for the default, instead of drawing overlapping windows", async () => {
    const r = await runCli(
      [
        "prune",
        "model",
        "--method",
        "wanda",
        "--sparsity",
        "0.5",
        "--calibration",
        "text.txt",
        "--out",
        "w-short",
        "--quiet",
      ],
      ws.dir,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^mama-prune: CALIBRATION_INVALID: .*text\.txt: calibration text too short for 128 disjoint windows of 64 tokens\. Expected at least 8192 tokens, got \d+; .*--nsamples/,
    );
  });

  it("keeps explicit values exactly (no default note, the same windows as before)", async () => {
    const r = await runCli(
      [
        "prune",
        "model",
        "--method",
        "wanda",
        "--sparsity",
        "0.5",
        "--calibration",
        "text.txt",
        "--nsamples",
        "4",
        "--seqlen",
        "16",
        "--out",
        "w-explicit",
        "--json",
        "--quiet",
      ],
      ws.dir,
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.report.calibration.protocol).toMatch(
      /^4 windows × 16 tokens drawn from a \d+-token stream, start_k = rng\.int\(\d+\), createRng\(0\)$/,
    );
    expect(j.calibrationSize.defaulted).toBe(false);
  });
});

describe("a flag overrides only what it names", () => {
  it("--method keeps the recipe's redistribution (and other options), dropping only the label", () => {
    expect(
      overrideMethodName(
        { name: "mama", label: "MAMA (refit)", redistribution: "refit", group: "row" },
        "wanda",
      ),
    ).toEqual({
      name: "wanda",
      redistribution: "refit",
      group: "row",
    });
    expect(overrideMethodName({ name: "wanda", label: "W" }, "wanda")).toEqual({ name: "wanda", label: "W" });
    expect(overrideMethodName(undefined, "magnitude")).toEqual({ name: "magnitude" });
  });

  it("refuses options the new method would silently ignore, naming the flag and the recipe key", () => {
    expect(() => overrideMethodName({ name: "mama", mama: { activationWeight: 1 } }, "wanda")).toThrow(
      /^--method wanda conflicts with recipe\.method\.mama \(set for method mama\)/,
    );
    expect(() => overrideMethodName({ name: "sparsegpt", damping: 0.1 }, "wanda")).toThrow(
      /^--method wanda conflicts with recipe\.method\.damping/,
    );
    // damping is used by a refit redistribution, so it stays.
    expect(overrideMethodName({ name: "sparsegpt", damping: 0.1, redistribution: "refit" }, "wanda")).toEqual(
      {
        name: "wanda",
        damping: 0.1,
        redistribution: "refit",
      },
    );
  });

  it("prune --recipe (mama + refit) --method wanda runs wanda with refit; mama options + --method wanda is an error", async () => {
    await writeFile(
      join(ws.dir, "refit.yaml"),
      "model: model\nmethod: { name: mama, redistribution: refit }\nsparsity: 0.5\ncalibration: { text: text.txt, nsamples: 2, seqlen: 8 }\noutput: { dir: r-refit }\n",
    );
    const r = await runCli(
      ["prune", "--recipe", "refit.yaml", "--method", "wanda", "--json", "--quiet"],
      ws.dir,
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect([j.report.method, j.report.redistribution]).toEqual(["wanda", "refit"]);

    await writeFile(
      join(ws.dir, "mamaopts.yaml"),
      "model: model\nmethod: { name: mama, mama: { activationWeight: 1 } }\nsparsity: 0.5\ncalibration: { text: text.txt, nsamples: 2, seqlen: 8 }\noutput: { dir: r-conflict }\n",
    );
    const e = await runCli(["prune", "--recipe", "mamaopts.yaml", "--method", "wanda", "--quiet"], ws.dir);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(
      /^mama-prune: RECIPE_INVALID: --method wanda conflicts with recipe\.method\.mama/,
    );
  });
});
