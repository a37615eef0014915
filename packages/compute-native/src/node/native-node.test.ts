// createNativeBackend on Node: the default wiring (onnxruntime-node + threaded wasm), and the errors
// when onnxruntime-node is missing or is not onnxruntime — including a process where the package
// cannot be resolved at all (the imports still succeed; only creating the backend fails).
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { isWasmSimdSupported } from "@mama-prune/compute-wasm";
import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { createNativeBackend, loadOnnxRuntime, ONNXRUNTIME_NODE_VERSION } from "./index.ts";

const installed = await loadOnnxRuntime().then(
  () => true,
  () => false,
);
const root = fileURLToPath(new URL("../../../../", import.meta.url));

describe.skipIf(!installed || !isWasmSimdSupported())("createNativeBackend", () => {
  it("loads onnxruntime-node 1.30.0 and the threaded wasm delegate", async () => {
    const ort = await loadOnnxRuntime();
    expect(ort.env?.versions?.node).toBe(ONNXRUNTIME_NODE_VERSION);
    const b = await createNativeBackend({ threads: 2, threshold: { minDim: 1, minMkn: 1 } });
    try {
      expect(b.name).toBe("onnxruntime x2 + wasm-simd x2");
      expect(b.threads).toBe(2);
      expect(b.threshold).toEqual({ minDim: 1, minMkn: 1, gramMinCols: 512 });
      const y = await b.matmulTransB(new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 2, 1);
      expect(Array.from(y)).toEqual([11]);
      expect(b.stats().nativeCalls).toBe(1);
    } finally {
      await b.dispose();
    }
  });

  it("rejects bad threads before loading anything", async () => {
    await expect(createNativeBackend({ threads: 1.5 })).rejects.toThrow(
      /threads must be an integer in \[1, 256\], got 1.5/,
    );
  });
});

describe("createNativeBackend without onnxruntime-node", () => {
  it("throws BACKEND_UNAVAILABLE naming the package and the install command", async () => {
    const missing = Object.assign(new Error("Cannot find package 'onnxruntime-node' imported from x"), {
      code: "ERR_MODULE_NOT_FOUND",
    });
    const e = await createNativeBackend({ loadOrt: () => Promise.reject(missing) }).catch((x: unknown) => x);
    expect(isPruneError(e, "BACKEND_UNAVAILABLE")).toBe(true);
    const msg = (e as Error).message;
    expect(msg).toContain('"onnxruntime-node"');
    expect(msg).toContain("npm install --save-exact onnxruntime-node@1.30.0");
    expect(msg).toContain("Cannot find package 'onnxruntime-node'");
    expect((e as Error).cause).toBe(missing);
  });

  it("throws BACKEND_UNAVAILABLE when the module is not onnxruntime", async () => {
    const e = await createNativeBackend({ loadOrt: async () => ({ default: { foo: 1 } }) }).catch(
      (x: unknown) => x,
    );
    expect(isPruneError(e, "BACKEND_UNAVAILABLE")).toBe(true);
    expect((e as Error).message).toMatch(
      /no Tensor \/ InferenceSession\.create.*got a module with keys \["foo"\]/,
    );
  });

  it("imports fine in a process where onnxruntime-node cannot be resolved; creating the backend fails cleanly", () => {
    // A resolve hook that makes "onnxruntime-node" not found, as on a machine without it.
    const hook = `data:text/javascript,${encodeURIComponent(
      `export async function resolve(s, c, next) { if (s === "onnxruntime-node") { const e = new Error("Cannot find package 'onnxruntime-node'"); e.code = "ERR_MODULE_NOT_FOUND"; throw e; } return next(s, c); }`,
    )}`;
    const script = [
      `import { register } from "node:module";`,
      `register(${JSON.stringify(hook)});`,
      `const m = await import("@mama-prune/compute-native/node");`,
      `await import("@mama-prune/compute-native");`,
      `try { await m.createNativeBackend(); console.log("created"); }`,
      `catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`,
    ].join("\n");
    const out = execFileSync(
      process.execPath,
      ["--conditions", "@mama-prune/source", "--import", "tsx", "--input-type=module", "-e", script],
      { cwd: root, encoding: "utf8", timeout: 60_000 },
    );
    const r = JSON.parse(out.trim().split("\n").at(-1)!) as { code: string; message: string };
    expect(r.code).toBe("BACKEND_UNAVAILABLE");
    expect(r.message).toContain("npm install --save-exact onnxruntime-node@1.30.0");
  });
});
