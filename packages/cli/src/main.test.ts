import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openCheckpoint } from "@mama-prune/tensor-io/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, runCli, type Workspace, writeTinyModel } from "../test/fixtures/workspace.ts";

let ws: Workspace;
beforeAll(async () => {
  ws = await createWorkspace();
});
afterAll(async () => {
  await ws.cleanup();
});

const exists = async (p: string): Promise<boolean> => (await stat(p).catch(() => null)) !== null;

/** Every failure is exactly one line on stderr, names its problem, and has no stack trace. */
function expectOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr
    .split("\n")
    .filter((l) => l.trim() !== "" && !/^(calibration windows|.* @ .*:|dense)/.test(l));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^mama-prune: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe("main: inspect", () => {
  it("reports architecture, parameter counts and per-layer sparsity as JSON", async () => {
    const r = await runCli(["inspect", "model", "--json", "--quiet"], ws.dir);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.format).toBe("hf-folder");
    expect(j.storage).toBe("dense");
    expect(j.architecture.layers).toBe(2);
    // embed 512·16 + 2 × (2 norms·16 + q 256 + k 128 + v 128 + o 256 + 3·512) + norm 16
    expect(j.parameters).toBe(512 * 16 + 2 * (32 + 256 + 128 + 128 + 256 + 3 * 512) + 16);
    expect(j.prunableParameters).toBe(2 * (256 + 128 + 128 + 256 + 3 * 512));
    expect(j.blockSparsity).toEqual([0, 0]);
    expect(j.tensors).toHaveLength(1 + 2 * 9 + 1);
  });
});

describe("main: prune, inspect and eval round trip", () => {
  it("prunes with wanda into a sparse folder whose inspect shows 50 % per layer and which evaluates", async () => {
    const out = join(ws.dir, "wanda50");
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
        "wanda50",
        "--format",
        "sparse-bitmask",
        "--json",
      ],
      ws.dir,
    );
    expect(r.stderr).toContain("blocks pruned");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.report.overallSparsity).toBe(0.5);
    expect((await readdir(out)).sort()).toEqual([
      "config.json",
      "model.safetensors",
      "pruning.json",
      "tokenizer.bin",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    const cfg = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
    expect(cfg.quantization_config.sparsity_config.format).toBe("sparse-bitmask");
    expect(cfg.mama_prune.method).toBe("wanda");

    const ins = JSON.parse((await runCli(["inspect", "wanda50", "--json", "--quiet"], ws.dir)).stdout);
    expect(ins.storage).toBe("sparse-bitmask");
    expect(ins.blockSparsity).toEqual([0.5, 0.5]);
    // Wanda prunes exactly half of every row: check one tensor directly.
    const ck = await openCheckpoint(out);
    const w = await ck.readF32("model.layers.1.mlp.down_proj.weight"); // (16, 32)
    for (let i = 0; i < 16; i++)
      expect(w.subarray(i * 32, (i + 1) * 32).filter((x) => x === 0).length).toBe(16);
    await ck.close();

    const ev = await runCli(
      ["eval", "wanda50", "--text", "text.txt", "--seqlen", "16", "--windows", "3", "--json"],
      ws.dir,
    );
    expect(ev.code).toBe(0);
    const e = JSON.parse(ev.stdout);
    expect(e.windows).toBe(3);
    expect(e.tokensScored).toBe(45);
    expect(e.ppl).toBeGreaterThan(1);
    expect(ev.stderr).toContain("eval blocks");
  });

  it("writes 2:4 weights in the sparse-24 format and data-free magnitude needs no calibration", async () => {
    const r = await runCli(
      [
        "prune",
        "model",
        "--method",
        "magnitude",
        "--sparsity",
        "2:4",
        "--out",
        "m24",
        "--format",
        "sparse-24",
        "--quiet",
      ],
      ws.dir,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("overall sparsity of the block linears: 50.00 %");
    const ck = await openCheckpoint(join(ws.dir, "m24"));
    const w = await ck.readF32("model.layers.0.self_attn.q_proj.weight");
    for (let g = 0; g < w.length; g += 4) expect(w.subarray(g, g + 4).filter((x) => x === 0).length).toBe(2);
    await ck.close();
  });
});

describe("main: prune --split", () => {
  it("draws calibration windows from the calibration split only (the part eval --split leaves out)", async () => {
    const stream = async (extra: string[], out: string): Promise<number> => {
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
          "2",
          "--seqlen",
          "8",
          "--out",
          out,
          "--json",
          "--quiet",
          ...extra,
        ],
        ws.dir,
      );
      expect(r.code).toBe(0);
      return Number(/from a (\d+)-token stream/.exec(JSON.parse(r.stdout).report.calibration.protocol)![1]);
    };
    const whole = await stream([], "w-whole");
    const split = await stream(["--split"], "w-split");
    // 40 paragraphs: the calibration split is the last round(0.15 · 40) = 6 of them.
    expect(split).toBeGreaterThan(0);
    expect(split).toBeLessThan(whole / 3);
  });
});

describe("main: prune --recipe", () => {
  it("takes model, method, sparsity, calibration and output from a recipe, flags overriding it", async () => {
    await writeFile(
      join(ws.dir, "prune.yaml"),
      "model: model\nmethod: { name: mama }\nsparsity: 0.25\ncalibration: { text: text.txt, nsamples: 2, seqlen: 8 }\noutput: { dir: from-recipe, format: sparse-bitmask }\n",
    );
    const r = await runCli(
      ["prune", "--recipe", "prune.yaml", "--sparsity", "0.5", "--json", "--quiet"],
      ws.dir,
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.report.method).toBe("mama");
    expect(j.report.sparsity).toBe(0.5);
    expect(j.report.calibration.nsamples).toBe(2);
    expect(j.out).toBe(join(ws.dir, "from-recipe"));
    const cfg = JSON.parse(await readFile(join(ws.dir, "from-recipe", "config.json"), "utf8"));
    expect(cfg.quantization_config.sparsity_config.format).toBe("sparse-bitmask");
  });

  it("passes mama.wide to the method: the wide path's solver named in each linear's report", async () => {
    const solvers = async (solver: string, out: string): Promise<Set<unknown>> => {
      await writeFile(
        join(ws.dir, `wide-${solver}.yaml`),
        `model: model\nmethod: { name: mama, mama: { path: wide, wide: { solver: ${solver}, polishIterations: 2 } } }\nsparsity: 0.5\ncalibration: { text: text.txt, nsamples: 2, seqlen: 8 }\noutput: { dir: ${out} }\n`,
      );
      const r = await runCli(["prune", "--recipe", `wide-${solver}.yaml`, "--json", "--quiet"], ws.dir);
      expect(r.code, r.stderr).toBe(0);
      const layers = JSON.parse(r.stdout).report.linears as { mamaPath?: string; refitSolver?: string }[];
      expect(layers.length).toBeGreaterThan(0);
      expect(new Set(layers.map((l) => l.mamaPath))).toEqual(new Set(["wide"]));
      return new Set(layers.map((l) => l.refitSolver));
    };
    expect(await solvers("sweep", "wide-sweep")).toEqual(new Set(["sweep"]));
    expect([...(await solvers("pcg", "wide-pcg"))]).not.toContain("sweep");
  });
});

describe("main: error paths", () => {
  const cases: [string, string[], number, RegExp][] = [
    ["a missing checkpoint", ["inspect", "nope.bin"], 2, /TENSOR_IO_NOT_FOUND: .*nope\.bin: no such file/],
    [
      "an unknown method",
      ["prune", "model", "--method", "prune-harder", "--sparsity", "0.5"],
      2,
      /SCORER_NOT_FOUND: --method: .*got "prune-harder"/,
    ],
    [
      "sparsity 1",
      ["prune", "model", "--method", "magnitude", "--sparsity", "1"],
      2,
      /SPARSITY_INVALID: --sparsity: .*\[0, 1\).*got 1\./,
    ],
    [
      "negative sparsity",
      ["prune", "model", "--method", "magnitude", "--sparsity=-0.1"],
      2,
      /SPARSITY_INVALID: --sparsity: .*got -0\.1\./,
    ],
    [
      "N:M with N = M",
      ["prune", "model", "--method", "magnitude", "--sparsity", "4:4"],
      2,
      /SPARSITY_INVALID: --sparsity: sparsity is an invalid N:M pattern\. Expected integers 1 <= n < m .*got n=4, m=4\./,
    ],
    [
      "N:M with N > M",
      ["prune", "model", "--method", "magnitude", "--sparsity", "5:4"],
      2,
      /SPARSITY_INVALID/,
    ],
    ["an unknown command", ["squash", "model"], 2, /unknown command "squash"/],
    ["an unknown flag", ["eval", "model", "--txt", "text.txt"], 2, /eval: Unknown option '--txt'/],
    ["a missing --seqlen", ["eval", "model", "--text", "text.txt"], 2, /missing --seqlen/],
    [
      "a bad --seqlen",
      ["eval", "model", "--text", "text.txt", "--seqlen", "1"],
      2,
      /--seqlen: expected an integer ≥ 2, got "1"/,
    ],
    [
      "a missing text",
      ["eval", "model", "--text", "none.txt", "--seqlen", "8"],
      2,
      /TENSOR_IO_NOT_FOUND: .*none\.txt: cannot read the evaluation text/,
    ],
    [
      "a calibration method without text",
      ["prune", "model", "--method", "wanda", "--sparsity", "0.5"],
      2,
      /CALIBRATION_INVALID: .*needs calibration text/,
    ],
    [
      "a bad --format",
      ["prune", "model", "--method", "magnitude", "--sparsity", "0.5", "--format", "zip"],
      2,
      /--format: expected one of dense, sparse-bitmask, sparse-24/,
    ],
    [
      "a missing recipe",
      ["sweep", "--recipe", "none.yaml"],
      2,
      /TENSOR_IO_NOT_FOUND: none\.yaml: cannot read the recipe/,
    ],
  ];
  for (const [what, argv, code, pattern] of cases) {
    it(`gives one line and exit ${code} for ${what}`, async () => {
      const r = await runCli(argv, ws.dir);
      expect(r.code).toBe(code);
      expectOneLineError(r.stderr, pattern);
    });
  }

  it("names an empty evaluation text and an empty calibration text", async () => {
    await writeFile(join(ws.dir, "empty.txt"), " \n\n \n");
    const e = await runCli(["eval", "model", "--text", "empty.txt", "--seqlen", "8"], ws.dir);
    expect(e.code).toBe(2);
    expectOneLineError(e.stderr, /EVAL_INVALID: .*empty\.txt: the evaluation text is empty/);
    const c = await runCli(
      ["prune", "model", "--method", "wanda", "--sparsity", "0.5", "--calibration", "empty.txt"],
      ws.dir,
    );
    expect(c.code).toBe(2);
    expectOneLineError(c.stderr, /CALIBRATION_INVALID: .*empty\.txt: the calibration text is empty/);
  });

  it("names a corrupt checkpoint (garbage safetensors, truncated llama2.c)", async () => {
    await writeFile(
      join(ws.dir, "bad.safetensors"),
      new Uint8Array([200, 0, 0, 0, 0, 0, 0, 0, 123, 34, 120]),
    );
    const a = await runCli(["inspect", "bad.safetensors"], ws.dir);
    expect(a.code).toBe(2);
    expectOneLineError(a.stderr, /TENSOR_IO_MALFORMED: .*bad\.safetensors/);
    const head = new Int32Array([64, 172, 5, 8, 4, 512, 512]);
    await writeFile(join(ws.dir, "short.bin"), new Uint8Array(head.buffer));
    const b = await runCli(["inspect", "short.bin"], ws.dir);
    expect(b.code).toBe(2);
    expectOneLineError(b.stderr, /TENSOR_IO_MALFORMED: .*short\.bin/);
  });

  it("names a tokenizer whose vocabulary does not match the model", async () => {
    await writeTinyModel(join(ws.dir, "v520"), { vocab: 520 });
    const r = await runCli(["eval", "v520", "--text", "text.txt", "--seqlen", "8"], ws.dir);
    expect(r.code).toBe(2);
    expectOneLineError(
      r.stderr,
      /TOKENIZER_MISMATCH: .*tokenizer\.bin: tokenizer does not match model v520\. Expected 520 pieces .*got 512\./,
    );
    const t = await runCli(
      ["eval", "model", "--text", "text.txt", "--seqlen", "8", "--tokenizer", "model/config.json"],
      ws.dir,
    );
    expect(t.code).toBe(2);
    expectOneLineError(t.stderr, /TOKENIZER_INVALID/);
  });

  it("refuses to overwrite a non-empty output folder, leaving it untouched", async () => {
    await mkdir(join(ws.dir, "taken"));
    await writeFile(join(ws.dir, "taken", "keep.txt"), "mine");
    const r = await runCli(
      ["prune", "model", "--method", "magnitude", "--sparsity", "0.5", "--out", "taken", "--quiet"],
      ws.dir,
    );
    expect(r.code).toBe(2);
    expectOneLineError(r.stderr, /TENSOR_IO_EXISTS/);
    expect(await readdir(join(ws.dir, "taken"))).toEqual(["keep.txt"]);
  });

  it("exits 130 when interrupted and leaves no output behind", async () => {
    const ac = new AbortController();
    ac.abort();
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
        "2",
        "--seqlen",
        "8",
        "--out",
        "aborted",
      ],
      ws.dir,
      { signal: ac.signal },
    );
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/mama-prune: interrupted; no partial output was left\.\n$/);
    expect(await exists(join(ws.dir, "aborted"))).toBe(false);
    expect((await readdir(ws.dir)).some((f) => f.includes("aborted"))).toBe(false);
  });

  it("exits 130 when interrupted in the middle of pruning, leaving no folder and no staging files", async () => {
    const ac = new AbortController();
    const before = (await readdir(ws.dir)).sort();
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
        "2",
        "--seqlen",
        "8",
        "--out",
        "midway",
      ],
      ws.dir,
      {
        signal: ac.signal,
        stderr: (s) => {
          if (s.includes("blocks pruned: 1/2")) ac.abort();
        },
      },
    );
    expect(ac.signal.aborted).toBe(true);
    expect(r.code).toBe(130);
    expect((await readdir(ws.dir)).sort()).toEqual(before);
  });

  it("names 2:4 storage of weights that are not 2:4", async () => {
    const r = await runCli(
      [
        "prune",
        "model",
        "--method",
        "magnitude",
        "--sparsity",
        "0.5",
        "--format",
        "sparse-24",
        "--out",
        "not24",
        "--quiet",
      ],
      ws.dir,
    );
    expect(r.code).toBe(2);
    // Refused before any work (checkOutputFormat), no longer by the writer after pruning (MASK_INVALID).
    expectOneLineError(
      r.stderr,
      /SPARSITY_INVALID: prune: option --format sparse-24: .*Expected sparsity 2:4 \(or 3:4\), got 0\.5/,
    );
    expect(await exists(join(ws.dir, "not24"))).toBe(false);
  });

  it("shows the stack only with --debug and prints a JSON error with --json", async () => {
    const d = await runCli(["inspect", "nope.bin", "--debug"], ws.dir);
    expect(d.stderr).toMatch(/\n\s+at /);
    const j = await runCli(["inspect", "nope.bin", "--json"], ws.dir);
    expect(JSON.parse(j.stdout).error).toMatchObject({ code: "TENSOR_IO_NOT_FOUND", exitCode: 2 });
  });

  it("prints help with exit 0, and usage with exit 2 when no command is given", async () => {
    const h = await runCli(["--help"], ws.dir);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain(
      "Exit codes: 0 ok, 1 runtime failure, 2 usage or input error, 130 interrupted",
    );
    expect((await runCli([], ws.dir)).code).toBe(2);
  });
});
