// The quick start as a user runs it: no file handle left for the garbage collector to close
// (Node's DEP0137 "Closing a FileHandle object on garbage collection").
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
// Collects garbage once the program is done, so that a leaked FileHandle is always reported.
const COLLECT_AT_EXIT =
  "data:text/javascript,let d=false;process.on('beforeExit',()=>{if(d)return;d=true;globalThis.gc();setTimeout(()=>{},20)})";

describe("examples/distill quick start", () => {
  it("runs without leaving a file handle to the garbage collector (no DEP0137)", () => {
    const r = spawnSync(
      process.execPath,
      [
        "--trace-warnings",
        "--expose-gc",
        "--import",
        COLLECT_AT_EXIT,
        "--import",
        "tsx",
        "--conditions",
        "@mama-prune/source",
        join(REPO_ROOT, "examples/distill/src/quickstart.ts"),
      ],
      { cwd: REPO_ROOT, encoding: "utf8", timeout: 120_000 },
    );
    expect(r.stderr).not.toMatch(/DEP0137|Closing file descriptor/);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    // "<first loss> <last loss> <masked tensors> <sparsity unchanged>", e.g. "2.327 1.816 1 true".
    expect(r.stdout).toMatch(/^\d+\.\d{3} \d+\.\d{3} 1 true\n$/);
  }, 150_000);
});
