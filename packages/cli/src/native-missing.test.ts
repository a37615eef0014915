// `--backend native` where onnxruntime-node is not installed: one BACKEND_UNAVAILABLE line naming the
// package and the install command (exit 1); the other backends are untouched by its absence.
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BUNDLED_MODEL, BUNDLED_TEXT, BUNDLED_TOKENIZER, runCli } from "../test/fixtures/workspace.ts";

vi.mock("onnxruntime-node", () => {
  throw Object.assign(new Error("Cannot find package 'onnxruntime-node' imported from compute-native"), {
    code: "ERR_MODULE_NOT_FOUND",
  });
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mama-cli-native-missing-"));
  await cp(BUNDLED_MODEL, join(dir, "stories260K.bin"));
  await cp(BUNDLED_TOKENIZER, join(dir, "tok512.bin"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const evalArgs = ["eval", "stories260K.bin", "--text", BUNDLED_TEXT, "--seqlen", "128", "--windows", "2"];

describe("--backend native without onnxruntime-node", () => {
  it("fails with one BACKEND_UNAVAILABLE line naming onnxruntime-node and how to install it", async () => {
    const r = await runCli([...evalArgs, "--backend", "native", "--quiet"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^mama-prune: BACKEND_UNAVAILABLE: --backend native: compute-native: .*"onnxruntime-node"/,
    );
    expect(r.stderr).toContain("npm install --save-exact onnxruntime-node@1.30.0");
    expect(r.stderr).toContain("got a failed import");
  });

  it("leaves the default backend working", async () => {
    const r = await runCli([...evalArgs, "--json", "--quiet"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).backend).toMatch(/^wasm-simd x\d+$/);
  });
});
