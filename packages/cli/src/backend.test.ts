// The CLI's compute backend: WebAssembly SIMD on all cores by default, plain JS as reference and
// fallback, and both agree on the bundled stories260K model.
import { existsSync } from "node:fs";
import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCheckpoint } from "@mama-prune/tensor-io/node";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BUNDLED_MODEL, BUNDLED_TEXT, BUNDLED_TOKENIZER, runCli } from "../test/fixtures/workspace.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mama-cli-backend-"));
  await cp(BUNDLED_MODEL, join(dir, "stories260K.bin"));
  await cp(BUNDLED_TOKENIZER, join(dir, "tok512.bin"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

const evalArgs = ["eval", "stories260K.bin", "--text", BUNDLED_TEXT, "--seqlen", "256", "--windows", "6"];

async function evalJson(extra: string[]): Promise<{ ppl: number; backend: string; protocol: string }> {
  const r = await runCli([...evalArgs, ...extra, "--json", "--quiet"], dir);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

describe("cli compute backend", () => {
  it("evaluates on native by default (onnxruntime-node is installed here), on wasm / js when asked, and the perplexities agree to 1e-5", async () => {
    const auto = await evalJson([]);
    expect(auto.backend).toMatch(/^onnxruntime x\d+ \+ wasm-simd x\d+$/);
    expect(auto.protocol).toMatch(/backend onnxruntime x\d+ \+ wasm-simd x\d+/);
    const wasm = await evalJson(["--backend", "wasm"]);
    expect(wasm.backend).toMatch(/^wasm-simd x\d+$/);
    expect(wasm.protocol).toMatch(/backend wasm-simd x\d+/);
    const one = await evalJson(["--threads", "1"]);
    expect(one.backend).toBe("onnxruntime x1 + wasm-simd x1");
    const js = await evalJson(["--backend", "js"]);
    expect(js.backend).toBe("js");
    expect(js.protocol).toMatch(/backend js/);
    expect(Number.isFinite(js.ppl) && js.ppl > 1).toBe(true);
    // The tiny model's matmuls are all below native's threshold: auto computes exactly what wasm does.
    expect(auto.ppl).toBe(wasm.ppl);
    expect(Math.abs(wasm.ppl - js.ppl) / js.ppl).toBeLessThan(1e-5);
    expect(Math.abs(one.ppl - js.ppl) / js.ppl).toBeLessThan(1e-5);
  });

  it("MAMA_PRUNE_NO_NATIVE=1 makes auto take wasm", async () => {
    vi.stubEnv("MAMA_PRUNE_NO_NATIVE", "1");
    try {
      expect((await evalJson([])).backend).toMatch(/^wasm-simd x\d+$/);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("falls back to js when WebAssembly SIMD is missing; --backend wasm then fails with one line", async () => {
    vi.spyOn(WebAssembly, "validate").mockReturnValue(false);
    const r = await evalJson([]);
    expect(r.backend).toBe("js");
    const bad = await runCli([...evalArgs, "--backend", "wasm", "--quiet"], dir);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/^mama-prune: BACKEND_UNAVAILABLE: .*WebAssembly SIMD/);
  });

  // Worker threads are OS threads: a command that forgot to dispose its backend would leave them
  // running (they are unref'ed, so the process would still exit, but they would pile up).
  it.runIf(existsSync("/proc/self/status"))("ends its worker threads when the command ends", async () => {
    const threads = async (): Promise<number> =>
      Number(/^Threads:\s+(\d+)/m.exec(await readFile("/proc/self/status", "utf8"))?.[1]);
    await evalJson(["--threads", "3"]); // warm-up: libuv and V8 helper threads start lazily
    await new Promise((r) => setTimeout(r, 100));
    const before = await threads();
    for (let i = 0; i < 3; i++) await evalJson(["--threads", "3"]);
    await new Promise((r) => setTimeout(r, 100));
    expect(await threads()).toBeLessThanOrEqual(before);
  });

  it("rejects bad --backend and --threads values as usage errors", async () => {
    for (const [flags, pattern] of [
      [["--backend", "gpu"], /--backend: expected one of auto, wasm, js, webgpu, native, got "gpu"/],
      [["--threads", "0"], /--threads: expected an integer ≥ 1, got "0"/],
      [["--threads", "999"], /--threads: expected an integer in \[1, 256\], got 999/],
      [["--backend", "js", "--threads", "2"], /--threads: only the wasm and native backends have threads/],
    ] as const) {
      const r = await runCli([...evalArgs, ...flags, "--quiet"], dir);
      expect(r.code, flags.join(" ")).toBe(2);
      expect(r.stderr).toMatch(pattern);
    }
  });

  it("evaluates with --backend native (onnxruntime-node + wasm): stories260K's perplexity of wasm, bit for bit", async () => {
    const wasm = await evalJson(["--threads", "2"]);
    const native = await evalJson(["--backend", "native", "--threads", "2"]);
    expect(native.backend).toBe("onnxruntime x2 + wasm-simd x2");
    expect(native.protocol).toMatch(/backend onnxruntime x2 \+ wasm-simd x2/);
    expect(native.ppl).toBe(wasm.ppl); // every matmul of stories260K is below the native threshold
  });

  it("prunes Wanda 50 % with the same mask on wasm, js and native", async () => {
    const masks: Uint8Array[][] = [];
    const names: string[] = [];
    for (const backend of ["wasm", "js", "native"]) {
      const out = join(dir, `wanda-${backend}`);
      const r = await runCli(
        [
          "prune",
          "stories260K.bin",
          "--method",
          "wanda",
          "--sparsity",
          "0.5",
          "--calibration",
          BUNDLED_TEXT,
          "--nsamples",
          "8",
          "--seqlen",
          "128",
          "--out",
          out,
          "--backend",
          backend,
          "--json",
          "--quiet",
        ],
        dir,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).report.backend).toMatch(
        { js: /^js$/, wasm: /^wasm-simd x\d+$/, native: /^onnxruntime x\d+ \+ wasm-simd x\d+$/ }[backend]!,
      );
      const ck = await openCheckpoint(out);
      try {
        const ms: Uint8Array[] = [];
        for (const t of ck.list()) {
          if (!/\.(q|k|v|o|gate|up|down)_proj\.weight$/.test(t.name)) continue;
          if (backend === "wasm") names.push(t.name);
          const w = await ck.readF32(t.name);
          ms.push(Uint8Array.from(w, (v) => (v === 0 ? 1 : 0)));
        }
        masks.push(ms);
      } finally {
        await ck.close();
      }
    }
    const [a, ...others] = masks as [Uint8Array[], ...Uint8Array[][]];
    expect(names.length).toBe(5 * 7);
    expect(others).toHaveLength(2);
    for (const b of others) {
      expect(b.length).toBe(a.length);
      for (const [i, m] of a.entries()) {
        const zeros = m.reduce((s, v) => s + v, 0);
        expect(zeros / m.length, names[i]).toBeCloseTo(0.5, 2);
        expect(Buffer.from(m).equals(Buffer.from(b[i] as Uint8Array)), names[i]).toBe(true);
      }
    }
  });
});
