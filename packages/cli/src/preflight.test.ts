// The output folder is checked before any work: non-empty, a file in the way, read-only, no space.
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isPruneError } from "@mama-prune/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace, runCli, type Workspace } from "../test/fixtures/workspace.ts";
import { estimateOutputBytes, NODE_PREFLIGHT_FS, type PreflightFs, preflightOutput } from "./preflight.ts";

let ws: Workspace;
beforeAll(async () => {
  ws = await createWorkspace();
  await writeFile(join(ws.dir, "binary.txt"), new Uint8Array([0x41, 0x00, 0x42]));
});
afterAll(async () => {
  await ws.cleanup();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isPruneError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "ok";
}

describe("preflightOutput (the logic, with an injected file system)", () => {
  const opts = { overwrite: false, inputs: [], estimatedBytes: 10 * 1024 * 1024 };
  const fsWith = (over: Partial<PreflightFs>): PreflightFs => ({ ...NODE_PREFLIGHT_FS, ...over });

  it("accepts a new folder in a writable place with room", async () => {
    expect(await codeOf(preflightOutput(join(ws.dir, "new", "deeper"), opts))).toBe("ok");
    // The probe folder is gone again, and nothing was created.
    expect((await readdir(ws.dir)).filter((f) => f.includes("preflight"))).toEqual([]);
    expect(await stat(join(ws.dir, "new")).catch(() => null)).toBeNull();
  });

  it("refuses a read-only parent (mkdir fails with EROFS or EACCES), naming the folder", async () => {
    for (const code of ["EROFS", "EACCES"]) {
      const fs = fsWith({
        mkdir: () => Promise.reject(Object.assign(new Error(code), { code })),
      });
      const msg = await codeOf(preflightOutput(join(ws.dir, "ro-out"), opts, fs));
      expect(msg).toMatch(
        new RegExp(
          `^TENSOR_IO_WRITE_FAILED: --out .*ro-out: cannot create anything in ${ws.dir.replace(/[/\\]/g, ".")} \\(${code}`,
        ),
      );
    }
  });

  it("refuses a file system without room for the estimated output", async () => {
    const fs = fsWith({ statfs: () => Promise.resolve({ bavail: 2, bsize: 4096 }) });
    const msg = await codeOf(preflightOutput(join(ws.dir, "full-out"), opts, fs));
    expect(msg).toMatch(
      /^TENSOR_IO_WRITE_FAILED: --out .*full-out: not enough free space .*11\.0 MiB .*got 0\.0 MiB free/,
    );
  });

  it("estimates dense outputs at the input size and sparse ones below it", () => {
    expect(estimateOutputBytes(1000, "dense", 0.5)).toBe(1000);
    expect(estimateOutputBytes(1600, "sparse-bitmask", 0.5)).toBe(900);
    expect(estimateOutputBytes(1600, "sparse-24", 0.99)).toBe(260);
  });
});

describe("prune checks --out before any work", () => {
  const prune = (out: string, extra: string[] = []) =>
    runCli(
      [
        "prune",
        "model",
        "--method",
        "wanda",
        "--sparsity",
        "0.5",
        "--calibration",
        "binary.txt",
        "--out",
        out,
        ...extra,
      ],
      ws.dir,
    );

  it("reports a non-empty --out before reading the calibration text (which is binary here)", async () => {
    await mkdir(join(ws.dir, "full"));
    await writeFile(join(ws.dir, "full", "keep.txt"), "mine");
    const r = await prune("full");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^mama-prune: TENSOR_IO_EXISTS: --out .*\/full: destination folder is not empty/,
    );
    expect(r.stderr).not.toMatch(/calibration|CALIBRATION_INVALID/);
    expect(await readdir(join(ws.dir, "full"))).toEqual(["keep.txt"]);
    // Without the output problem the calibration text is what fails: the order is the point.
    expect((await prune("fresh")).stderr).toMatch(/CALIBRATION_INVALID/);
  });

  it("reports an --out under a regular file (not writable even for root) before any work", async () => {
    await writeFile(join(ws.dir, "plainfile"), "x");
    const r = await prune(join("plainfile", "out"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mama-prune: TENSOR_IO_EXISTS: --out .*\/plainfile\/out: a file is in the way/);
    expect(r.stderr).not.toMatch(/CALIBRATION_INVALID/);
  });

  it("reports an --out overlapping the input model before any work", async () => {
    const r = await prune(join("model", "sub"), ["--overwrite"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^mama-prune: TENSOR_IO_EXISTS: --out .*\/model\/sub: refusing to write over an input/,
    );
  });
});
