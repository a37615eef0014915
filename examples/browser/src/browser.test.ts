// The page in a real browser: build it with Vite, serve it with Vite's preview server on 127.0.0.1
// (a free port), drive Debian's Chromium with playwright-core (no browser download), prune the
// bundled stories260K with Wanda at 50 % on the wasm backend, and check
//  - that the page's dense and pruned perplexities equal the library's in Node, bit for bit, for the
//    same calibration windows, seed and evaluation windows (the same wasm kernels on both sides);
//  - that the downloaded model.safetensors, config.json and tokenizer.bin are byte-identical to
//    what the library writes in Node;
//  - that nothing left the machine: every request went to the page's own server, and after the
//    initial load only GETs of the page's static assets (and its own blob: workers) were made.
// It writes a screenshot and the timings of this run (page vs Node) to test-results/.
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { readSafetensors } from "@mama-prune/tensor-io";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CHROMIUM,
  hasChromium,
  launchChromium,
  nodeReference,
  type PageServer,
  rate,
  runPage,
  servePage,
} from "./harness.ts";
import { DEFAULT_SETTINGS } from "./job.ts";

const results = fileURLToPath(new URL("../test-results/", import.meta.url));
const skipReason = hasChromium()
  ? undefined
  : `browser test skipped: ${CHROMIUM} not found (apt-get install chromium; .ci/run installs it)`;
if (skipReason !== undefined) console.warn(skipReason);

describe.skipIf(skipReason !== undefined)("browser page (headless Chromium)", () => {
  let server: PageServer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    server = await servePage("preview");
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("prunes stories260K with Wanda at 50 % in a Web Worker, equal to Node bit for bit, offline", async () => {
    const s = DEFAULT_SETTINGS;
    expect([s.method, s.sparsity, s.nsamples, s.calibrationSeqlen, s.seed]).toEqual([
      "wanda",
      0.5,
      8,
      128,
      0,
    ]);
    const origin = server!.origin;

    // ---- the page (defaults, backend forced to wasm: "auto" would take WebGPU where there is one) ----
    const run = await runPage(browser!, origin, {
      form: { backend: "wasm" },
      download: ["model.safetensors", "config.json", "tokenizer.bin"],
      screenshot: `${results}page.png`,
    });
    expect(run.pageErrors).toEqual([]);
    expect(run.crossOriginIsolated).toBe(true);
    const d = run.dataset;
    expect(run.backendLine).toMatch(/Backend: wasm-simd x\d+ — shared memory across Web Workers/);
    const threads = Number(/^wasm-simd x(\d+)$/.exec(d["backend"] ?? "")?.[1]);
    expect(threads).toBeGreaterThanOrEqual(1);

    // ---- nothing left the machine ----
    const foreign = run.requests.filter(
      (r) => !r.url.startsWith(`${origin}/`) && !r.url.startsWith(`blob:${origin}/`),
    );
    expect(foreign, "requests to anything but the page's own server").toEqual([]);
    const late = run.requests.filter(
      (r) =>
        r.afterLoad &&
        !(
          r.method === "GET" &&
          (r.url.startsWith(`${origin}/assets/`) || r.url.startsWith(`blob:${origin}/`))
        ),
    );
    expect(late, "requests after the page loaded that are not its own static assets").toEqual([]);
    // The recorder sees the worker's fetches: the bundled model was fetched after the click, once.
    const modelFetches = run.requests.filter(
      (r) => r.afterLoad && /\/assets\/stories260K-[\w-]+\.bin$/.test(r.url),
    );
    expect(modelFetches).toHaveLength(1);

    // ---- the same job in Node ----
    const node = await nodeReference(s, threads);
    expect(Number(d["densePpl"])).toBe(node.dense.ppl); // String(x) round-trips a double exactly
    expect(Number(d["prunedPpl"])).toBe(node.pruned.ppl);
    expect(Number(d["prunedNll"])).toBe(node.pruned.meanNll);
    expect(Number(d["tokensScored"])).toBe(node.pruned.tokensScored);
    expect(d["datasetSha256"]).toBe(node.dense.sha256);
    expect(Number(d["overallSparsity"])).toBe(node.report.overallSparsity);
    expect(node.pruned.ppl).toBeGreaterThan(node.dense.ppl * 2); // a real prune, not the dense model twice
    expect(run.tableText).toContain(node.dense.ppl.toFixed(4));
    expect(run.tableText).toContain(node.pruned.ppl.toFixed(4));

    // ---- the downloads equal Node's writer output ----
    for (const name of ["model.safetensors", "config.json", "tokenizer.bin"]) {
      const got = run.downloads.get(name);
      const want = node.files.get(name);
      expect(got?.byteLength, name).toBe(want?.byteLength);
      expect(Buffer.from(got!).equals(Buffer.from(want!)), `${name} bytes`).toBe(true);
    }
    const q = await (await readSafetensors(run.downloads.get("model.safetensors")!)).readF32(
      "model.layers.0.self_attn.q_proj.weight",
    );
    expect(q.filter((x) => x === 0).length / q.length).toBe(0.5);

    // ---- timings of this one run: the page's Web Worker against Node on the same work ----
    const pt = JSON.parse(d["timings"]!) as Record<string, number>;
    const evalTokens = s.evalWindows * s.evalSeqlen;
    const calTokens = s.nsamples * s.calibrationSeqlen;
    const nt = node.timings;
    const timings = {
      backend: d["backend"],
      chromium: browser!.version(),
      node: process.version,
      pageLoadEventMs: Math.round(run.loadEventMs),
      pageLoadToResultMs: Math.round(Number(d["resultAt"])),
      clickToResultMs: Math.round(Number(d["resultAt"]) - Number(d["clickedAt"])),
      tokenizeMs: { worker: Math.round(pt["tokenize"]!), node: Math.round(nt.tokenize) },
      denseEvalTokensPerSecond: { worker: rate(evalTokens, pt["dense"]!), node: rate(evalTokens, nt.dense) },
      pruneMs: { worker: Math.round(pt["prune"]!), node: Math.round(nt.prune) },
      pruneCalibrationTokensPerSecond: {
        worker: rate(calTokens, pt["prune"]!),
        node: rate(calTokens, nt.prune),
      },
      prunedEvalTokensPerSecond: {
        worker: rate(evalTokens, pt["pruned"]!),
        node: rate(evalTokens, nt.pruned),
      },
      ppl: { dense: node.dense.ppl, pruned: node.pruned.ppl },
    };
    await mkdir(results, { recursive: true });
    await writeFile(`${results}timings.json`, `${JSON.stringify(timings, null, 2)}\n`);
    console.log(
      `browser page vs Node (this run, one sample each; bench/throughput.ts repeats):\n${JSON.stringify(timings)}`,
    );
  }, 120_000);
});
