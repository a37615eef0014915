// Issue 14: 4:8 on the bundled model (a 172-wide down_proj) prunes with the N:M tail rule, and
// --format sparse-24 that cannot hold the result is refused before any work.
import { copyFile, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { isPruneError } from "@mama-prune/core";
import { readLlama2c } from "@mama-prune/tensor-io";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BUNDLED_MODEL,
  BUNDLED_TOKENIZER,
  createWorkspace,
  runCli,
  type Workspace,
} from "../test/fixtures/workspace.ts";
import { checkPruneOutputFormat } from "./output-format-check.ts";

let ws: Workspace;
beforeAll(async () => {
  ws = await createWorkspace();
  await copyFile(BUNDLED_MODEL, join(ws.dir, "stories260K.bin"));
  await copyFile(BUNDLED_TOKENIZER, join(ws.dir, "tok512.bin"));
});
afterAll(async () => {
  await ws.cleanup();
});

const prune = (extra: string[]): string[] => [
  "prune",
  "stories260K.bin",
  "--method",
  "wanda",
  "--nsamples",
  "4",
  "--seqlen",
  "64",
  "--quiet",
  ...extra,
];

describe("N:M with a tail group through the CLI", () => {
  it("prunes the bundled model at 4:8 (down_proj 172 = 21·8 + a tail of 4 pruned at 2) and says so", async () => {
    const r = await runCli(prune(["--sparsity", "4:8", "--calibration", "text.txt", "--out", "w48"]), ws.dir);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(
      "\nwarning: prune: 4:8 on down_proj [64, 172] of every block: the last 4 input columns of each row form a tail group shorter than 8, pruned at floor(4·4/8) = 2; 86 of 172 per row (50.00 %).\n",
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("overall sparsity of the block linears: 50.00 % (113,280 of 226,560)");
    const cfg = JSON.parse(await readFile(join(ws.dir, "w48", "config.json"), "utf8"));
    expect(cfg.mama_prune.sparsity).toBe("4:8");
    expect(Object.values(cfg.mama_prune.nm_tail_columns)).toEqual([4, 4, 4, 4, 4]);
  });

  it("refuses --format sparse-24 with 4:8 before reading the calibration text or writing anything", async () => {
    const t0 = performance.now();
    const r = await runCli(
      prune(["--sparsity", "4:8", "--format", "sparse-24", "--calibration", "missing.txt", "--out", "s48"]),
      ws.dir,
    );
    expect(r.code).toBe(2);
    // The calibration file does not exist: the format check came first.
    expect(r.stderr).toBe(
      "mama-prune: SPARSITY_INVALID: prune: option --format sparse-24: output format sparse-24-bitmask stores at most 2 non-zeros in every 4 consecutive inputs. Expected sparsity 2:4 (or 3:4), got 4:8 (use format dense or sparse-bitmask).\n",
    );
    expect(performance.now() - t0).toBeLessThan(5000);
    await expect(stat(join(ws.dir, "s48"))).rejects.toThrow();
  });

  it("refuses sparse-24 for a model whose linear width is not divisible by 4, naming it", async () => {
    const { config } = await readLlama2c(new Uint8Array(await readFile(BUNDLED_MODEL)), "stories260K.bin");
    expect(() =>
      checkPruneOutputFormat("sparse-24", { n: 2, m: 4 }, config, "stories260K.bin"),
    ).not.toThrow();
    let err: unknown;
    try {
      checkPruneOutputFormat("sparse-24", { n: 2, m: 4 }, { ...config, intermediate_size: 174 }, "odd.bin");
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "SPARSITY_INVALID")).toBe(true);
    expect((err as Error).message).toBe(
      "prune: option --format sparse-24: output format sparse-24-bitmask needs every block linear's input width divisible by 4. Expected down_proj width % 4 = 0, got 174 (a 2-column tail group; use format dense or sparse-bitmask).",
    );
    // Dense and sparse-bitmask store any mask: nothing to check.
    for (const f of ["dense", "sparse-bitmask"] as const) {
      expect(() =>
        checkPruneOutputFormat(f, 0.5, { ...config, intermediate_size: 174 }, "odd.bin"),
      ).not.toThrow();
    }
  });
});
