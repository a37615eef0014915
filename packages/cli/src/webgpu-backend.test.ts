// `--backend webgpu`: kernels-webgpu's backend on a Dawn device (SwiftShader on a machine without a GPU).
import { existsSync } from "node:fs";
import { createNodeGpu } from "@mama-prune/kernels-webgpu/node";
import { describe, expect, it } from "vitest";
import { BUNDLED_MODEL, BUNDLED_TEXT, runCli } from "../test/fixtures/workspace.ts";

const SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json";
// As kernels-webgpu's tests: SwiftShader when no ICD is chosen and it is installed.
if (process.env["VK_ICD_FILENAMES"] === undefined && existsSync(SWIFTSHADER)) {
  process.env["VK_ICD_FILENAMES"] = SWIFTSHADER;
}
const gpu = await createNodeGpu().catch(() => undefined);
const hasGpu = gpu !== undefined;
await gpu?.dispose();

const evalArgs = (backend: string): string[] => [
  ...["eval", BUNDLED_MODEL, "--text", BUNDLED_TEXT, "--seqlen", "256", "--windows", "4"],
  ...["--backend", backend, "--json", "--quiet"],
];

describe("--backend webgpu", () => {
  it.skipIf(!hasGpu)(
    "eval of stories260K on WebGPU is within 1e-3 of the js and wasm backends",
    async () => {
      const gpuRun = await runCli(evalArgs("webgpu"), process.cwd());
      expect(gpuRun.code, gpuRun.stderr).toBe(0);
      const g = JSON.parse(gpuRun.stdout);
      expect(g.backend).toMatch(/webgpu/i);
      for (const cpu of ["js", "wasm"]) {
        const r = await runCli(evalArgs(cpu), process.cwd());
        expect(r.code, r.stderr).toBe(0);
        const c = JSON.parse(r.stdout);
        expect(Math.abs(g.ppl - c.ppl) / c.ppl, `${cpu}: ${c.ppl} vs webgpu ${g.ppl}`).toBeLessThan(1e-3);
        expect(g.tokensScored).toBe(c.tokensScored);
      }
    },
    300_000,
  );

  it("without an adapter: one line naming --backend webgpu and how to get SwiftShader", async () => {
    const saved = process.env["VK_ICD_FILENAMES"];
    // An ICD file that does not exist: Dawn finds no Vulkan adapter (no GPU on this machine, or skip).
    process.env["VK_ICD_FILENAMES"] = "/nonexistent/icd.json";
    try {
      const r = await runCli(evalArgs("webgpu"), process.cwd());
      if (r.code === 0) return; // a real GPU answered through another API: nothing to check here
      const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^mama-prune: GPU_UNAVAILABLE: --backend webgpu: no WebGPU device\. .*VK_ICD_FILENAMES/,
      );
    } finally {
      if (saved === undefined) delete process.env["VK_ICD_FILENAMES"];
      else process.env["VK_ICD_FILENAMES"] = saved;
    }
  });

  it("--threads with --backend webgpu is a usage error", async () => {
    const r = await runCli([...evalArgs("webgpu"), "--threads", "2"], process.cwd());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--threads: only the wasm and native backends have threads, got --backend webgpu/,
    );
  });
});
