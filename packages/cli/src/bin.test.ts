// End to end: the real executable in a child process (tsx from source), as a user runs it.
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUNDLED_MODEL, BUNDLED_TEXT, REPO_ROOT } from "../test/fixtures/workspace.ts";

const TSX = join(REPO_ROOT, "node_modules/.bin/tsx");
const BIN = join(REPO_ROOT, "packages/cli/src/bin.ts");

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(TSX, ["--conditions", "@mama-prune/source", BIN, ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("mama-prune (spawned)", () => {
  it("inspects the bundled llama2.c model with --json", () => {
    const r = run(["inspect", BUNDLED_MODEL, "--json", "--quiet"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.format).toBe("llama2c");
    expect(j.parameters).toBe(260_032);
    expect(j.architecture).toMatchObject({ layers: 5, hiddenSize: 64, vocabSize: 512 });
  });

  it("exits 2 with one line and no stack trace for a missing file and for bad sparsity", () => {
    const a = run(["eval", "missing.bin", "--text", "x.txt", "--seqlen", "8"]);
    expect(a.status).toBe(2);
    expect(a.stdout).toBe("");
    expect(a.stderr.trim().split("\n")).toHaveLength(1);
    expect(a.stderr).toMatch(/^mama-prune: TENSOR_IO_NOT_FOUND: .*missing\.bin: no such file or folder\.\n$/);
    const b = run(["prune", BUNDLED_MODEL, "--method", "magnitude", "--sparsity", "1.5"]);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/^mama-prune: SPARSITY_INVALID: --sparsity: .*got 1\.5\.\n$/);
  });

  it("exits 130 on Ctrl-C (SIGINT) during pruning and leaves no output folder", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mama-sigint-"));
    try {
      // node with tsx's loader, not the tsx launcher: the launcher relays signals itself and SIGKILLs
      // a child that is too busy to acknowledge within 60 ms, which is not what a user's node does.
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "--conditions",
          "@mama-prune/source",
          BIN,
          "prune",
          BUNDLED_MODEL,
          "--method",
          "sparsegpt",
          "--sparsity",
          "0.5",
          "--calibration",
          BUNDLED_TEXT,
          "--nsamples",
          "4",
          "--seqlen",
          "128",
          "--out",
          join(dir, "out"),
        ],
        { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stderr = "";
      let sent = false;
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (!sent && stderr.includes("blocks pruned: 1/5")) {
          sent = true;
          child.kill("SIGINT");
        }
      });
      const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
      expect(sent).toBe(true);
      expect(code).toBe(130);
      expect(stderr).toMatch(/mama-prune: interrupted; no partial output was left\.\n$/);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
