// The Web Worker factory run under Node through a tiny Worker shim over worker_threads, so the
// asynchronous wait path (Atomics.waitAsync) is exercised by the Node test suite too; Deno runs the
// real Web Workers in test/deno/smoke.ts.
import { resolveObjectURL } from "node:buffer";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { uniform } from "../../test/reference.ts";
import { createWasmBackend } from "../backend.ts";
import { createWasmBackendWorkers, type WebWorkerLike } from "../web-workers.ts";

const SHIM = `
const { parentPort } = require("node:worker_threads");
globalThis.self = {
  postMessage: (m) => parentPort.postMessage(m),
  set onmessage(f) { if (f) parentPort.once("message", (data) => f({ data })); },
};
`;

async function nodeWebWorker(url: string): Promise<string> {
  const blob = resolveObjectURL(url);
  if (!blob) throw new Error(`no blob at ${url}`);
  return blob.text();
}

function shimFactory(sources: Map<string, Promise<string>>) {
  return (url: string): WebWorkerLike => {
    // The Blob URL is read synchronously-enough: the text promise is awaited inside the wrapper.
    const text = sources.get(url) ?? nodeWebWorker(url);
    sources.set(url, text);
    const listeners: ((e: unknown) => void)[] = [];
    let worker: Worker | undefined;
    const queued: unknown[] = [];
    void text.then((src) => {
      worker = new Worker(SHIM + src, { eval: true });
      worker.unref();
      worker.on("message", (data) => {
        for (const l of listeners) l({ data });
      });
      for (const m of queued.splice(0)) worker.postMessage(m);
    });
    return {
      postMessage(m) {
        if (worker) worker.postMessage(m);
        else queued.push(m);
      },
      terminate() {
        void worker?.terminate();
      },
      addEventListener(type, l) {
        if (type === "message") listeners.push(l);
      },
    };
  };
}

describe("createWasmBackendWorkers", () => {
  it("gives bitwise the single-threaded results with asynchronous waiting", async () => {
    const single = await createWasmBackend();
    const threaded = await createWasmBackendWorkers({
      threads: 3,
      wait: "async",
      createWorker: shimFactory(new Map()),
    });
    expect(threaded.name).toBe("wasm-simd x3");
    const [m, k, n] = [129, 127, 257];
    const x = uniform(m * k, 1);
    const w = uniform(n * k, 2);
    // Two calls issued without awaiting the first: the backend serializes them.
    const [a, b] = await Promise.all([
      threaded.matmulTransB(x, w, m, k, n),
      threaded.matmulTransB(w.subarray(0, m * k), w, m, k, n),
    ]);
    const a1 = await single.matmulTransB(x, w, m, k, n);
    const b1 = await single.matmulTransB(w.subarray(0, m * k), w, m, k, n);
    expect(a.every((v, i) => Object.is(v, a1[i]))).toBe(true);
    expect(b.every((v, i) => Object.is(v, b1[i]))).toBe(true);
    await threaded.dispose();
    await single.dispose();
  });

  it("reports a missing Worker API as BACKEND_UNAVAILABLE", async () => {
    const g = globalThis as { Worker?: unknown };
    const saved = g.Worker;
    delete g.Worker;
    try {
      await expect(createWasmBackendWorkers({ threads: 2 })).rejects.toMatchObject({
        code: "BACKEND_UNAVAILABLE",
      });
    } finally {
      if (saved !== undefined) g.Worker = saved;
    }
  });
});
