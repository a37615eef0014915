// The page in a real browser: build it with Vite, serve it with Vite's preview server on 127.0.0.1
// (a free port), drive Debian's Chromium with playwright-core (no browser download), prune the
// bundled stories260K with Wanda at 50 % on the wasm backend, and check
//  - that the page's dense and pruned perplexities equal the library's in Node, bit for bit, for the
//    same calibration windows, seed and evaluation windows (same wasm kernels on both sides);
//  - that the downloaded model.safetensors is byte-identical to the one Node writes;
//  - that nothing left the machine: every request went to the page's own origin, and after the
//    initial load only GETs of the page's static assets were made.
// It writes a screenshot and the timings (page vs Node, measured in this one run) to test-results/.
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createWasmBackendNode } from "@mama-prune/compute-wasm/node";
import { cachingTokenizer, perplexity } from "@mama-prune/eval";
import { createLlama2cTokenizer, loadLlama } from "@mama-prune/model";
import {
  calibrationWindows,
  prune,
  prunedCheckpointEntries,
  pruneMetadata,
  splitCalibrationText,
} from "@mama-prune/pipeline";
import {
  memoryCheckpointDir,
  readLlama2c,
  readLlama2cTokenizer,
  readSafetensors,
  writeHfCheckpoint,
} from "@mama-prune/tensor-io";
import { type Browser, chromium, type Request } from "playwright-core";
import { build, type PreviewServer, preview } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS } from "./job.ts";

const CHROMIUM = "/usr/bin/chromium";
const root = fileURLToPath(new URL("..", import.meta.url));
const data = fileURLToPath(new URL("../../../data/", import.meta.url));
const results = fileURLToPath(new URL("../test-results/", import.meta.url));
const skipReason = existsSync(CHROMIUM)
  ? undefined
  : `browser test skipped: ${CHROMIUM} not found (apt-get install chromium; .ci/run installs it)`;
if (skipReason !== undefined) console.warn(skipReason);

interface PageRun {
  readonly dataset: Record<string, string>;
  readonly requests: { url: string; method: string; afterLoad: boolean }[];
  readonly loadEventMs: number;
  readonly downloads: Map<string, Uint8Array>;
  readonly backendLine: string;
  readonly tableText: string;
}

describe.skipIf(skipReason !== undefined)("browser page (headless Chromium)", () => {
  let server: PreviewServer | undefined;
  let browser: Browser | undefined;
  let origin = "";

  beforeAll(async () => {
    await build({ root, configFile: `${root}vite.config.ts`, logLevel: "warn" });
    server = await preview({
      root,
      configFile: `${root}vite.config.ts`,
      logLevel: "warn",
      preview: { host: "127.0.0.1", port: 0, strictPort: true, open: false },
    });
    const address = server.httpServer.address();
    if (address === null || typeof address === "string") throw new Error("preview: no TCP address");
    origin = `http://127.0.0.1:${address.port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless=new", "--no-sandbox"],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function runPage(): Promise<PageRun> {
    const context = await browser!.newContext({
      viewport: { width: 1000, height: 900 },
      acceptDownloads: true,
    });
    const requests: PageRun["requests"] = [];
    let afterLoad = false;
    const record = (r: Request): void => {
      requests.push({ url: r.url(), method: r.method(), afterLoad });
    };
    context.on("request", record);
    // Belt and braces: anything not addressed to the page's own server is refused before it leaves.
    await context.route(
      (url) => url.origin !== origin,
      (route) => route.abort("blockedbyclient"),
    );
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${origin}/`, { waitUntil: "networkidle" });
    afterLoad = true;
    const loadEventMs = await page.evaluate(
      () => (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).loadEventEnd,
    );
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    await page.selectOption("#backend", "wasm");
    await page.click("#run");
    await page.waitForFunction(() => document.body.dataset["state"] !== "running", undefined, {
      timeout: 90_000,
    });
    const state = await page.evaluate(() => document.body.dataset["state"]);
    if (state !== "done") {
      throw new Error(
        `page ended in state ${state}: ${await page.textContent("#stage")} ${errors.join("; ")}`,
      );
    }
    await mkdir(results, { recursive: true });
    await page.screenshot({ path: `${results}page.png`, fullPage: true });
    const dataset = await page.evaluate(
      () => ({ ...document.getElementById("result")!.dataset }) as Record<string, string>,
    );
    const downloads = new Map<string, Uint8Array>();
    for (const name of ["model.safetensors", "config.json", "tokenizer.bin"]) {
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.click(`a[download="${name}"]`),
      ]);
      downloads.set(name, new Uint8Array(await readFile(await download.path())));
    }
    const backendLine = (await page.textContent("#backend-line")) ?? "";
    const tableText = (await page.textContent("#result-table")) ?? "";
    expect(errors).toEqual([]);
    await context.close();
    return { dataset, requests, loadEventMs, downloads, backendLine, tableText };
  }

  it("prunes stories260K with Wanda at 50 % in a Web Worker and matches Node bit for bit, offline", async () => {
    const s = DEFAULT_SETTINGS;
    expect([s.method, s.sparsity, s.nsamples, s.calibrationSeqlen, s.seed]).toEqual([
      "wanda",
      0.5,
      8,
      128,
      0,
    ]);

    // ---- the page ----
    const t0 = performance.now();
    const run = await runPage();
    const pageWallMs = performance.now() - t0;
    const d = run.dataset;
    const threads = Number(/wasm-simd x(\d+)/.exec(d["backend"] ?? "")?.[1]);
    expect(threads).toBeGreaterThanOrEqual(1);
    expect(run.backendLine).toContain("wasm-simd");

    // ---- nothing left the machine ----
    const foreign = run.requests.filter((r) => !r.url.startsWith(`${origin}/`) && !r.url.startsWith("blob:"));
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
    // The bundled model, tokenizer and text were fetched from the page's assets after the click.
    expect(
      run.requests.filter((r) => r.afterLoad && /\/assets\/stories260K-.*\.bin$/.test(r.url)),
    ).toHaveLength(1);

    // ---- the same job in Node, with the library's calls: same text split, windows, seed, kernels ----
    const bytes = async (p: string): Promise<Uint8Array> => new Uint8Array(await readFile(`${data}${p}`));
    const modelBytes = await bytes("stories260K/stories260K.bin");
    const tokBytes = await bytes("stories260K/tok512.bin");
    const checkpoint = await readLlama2c(modelBytes, "stories260K.bin");
    const tokenizer = cachingTokenizer(
      createLlama2cTokenizer(readLlama2cTokenizer(tokBytes, 512, "tok512.bin")),
    );
    const text = await readFile(`${data}tinystories/tinystories_val.txt`, "utf8");
    const split = splitCalibrationText(text, { calibrationFraction: 0.15 });
    const backend = await createWasmBackendNode({ threads });
    try {
      const evalOptions = { seqlen: s.evalSeqlen, maxWindows: s.evalWindows };
      // Timed like the page: tokenize once, then the forward passes.
      let t = performance.now();
      tokenizer.encode(split.evaluation, { bos: false, eos: false });
      const calibrationStream = tokenizer.encode(split.calibration, { bos: false, eos: false });
      const nodeTokenizeMs = performance.now() - t;
      t = performance.now();
      const dense = await perplexity(
        await loadLlama(checkpoint, { backend }),
        tokenizer,
        split.evaluation,
        evalOptions,
      );
      const nodeDenseMs = performance.now() - t;
      const calibration = calibrationWindows(calibrationStream, {
        nsamples: s.nsamples,
        seqlen: s.calibrationSeqlen,
        seed: s.seed,
      });
      t = performance.now();
      const { model, report } = await prune({
        checkpoint,
        backend,
        method: "wanda",
        sparsity: 0.5,
        calibration,
      });
      const nodePruneMs = performance.now() - t;
      t = performance.now();
      const pruned = await perplexity(model, tokenizer, split.evaluation, evalOptions);
      const nodePrunedMs = performance.now() - t;

      // Perplexities: the page's exact doubles (String(x) round-trips) against Node's.
      expect(Number(d["densePpl"])).toBe(dense.ppl);
      expect(Number(d["prunedPpl"])).toBe(pruned.ppl);
      expect(Number(d["prunedNll"])).toBe(pruned.meanNll);
      expect(Number(d["tokensScored"])).toBe(pruned.tokensScored);
      expect(d["datasetSha256"]).toBe(dense.dataset.sha256);
      expect(Number(d["overallSparsity"])).toBe(report.overallSparsity);
      expect(pruned.ppl).toBeGreaterThan(dense.ppl); // the table is not the dense model twice
      expect(run.tableText).toContain(pruned.ppl.toFixed(4));
      expect(run.tableText).toContain(dense.ppl.toFixed(4));

      // The download: the same safetensors bytes as Node's writer produces, config and tokenizer beside it.
      const dir = memoryCheckpointDir("node");
      await writeHfCheckpoint(dir, {
        config: {
          ...checkpoint.config,
          mama_prune: pruneMetadata(report, {
            source: "stories260K.bin",
            calibration_text: "tinystories_val.txt",
          }),
        },
        tensors: prunedCheckpointEntries(model, checkpoint),
        format: "dense",
      });
      const st = run.downloads.get("model.safetensors")!;
      expect(st.byteLength).toBe(dir.files.get("model.safetensors")!.byteLength);
      expect(Buffer.from(st).equals(Buffer.from(dir.files.get("model.safetensors")!))).toBe(true);
      const q = await (await readSafetensors(st)).readF32("model.layers.0.self_attn.q_proj.weight");
      expect(q.filter((x) => x === 0).length / q.length).toBe(0.5);
      const config = JSON.parse(new TextDecoder().decode(run.downloads.get("config.json")));
      expect(config).toEqual(JSON.parse(new TextDecoder().decode(dir.files.get("config.json"))));
      expect(Buffer.from(run.downloads.get("tokenizer.bin")!).equals(Buffer.from(tokBytes))).toBe(true);

      // ---- timings of this one run: the Web Worker against Node on the same work ----
      const pt = JSON.parse(d["timings"]!) as Record<string, number>;
      const evalTokens = s.evalWindows * s.evalSeqlen;
      const calTokens = s.nsamples * s.calibrationSeqlen;
      const timings = {
        backend: d["backend"],
        chromium: browser!.version(),
        node: process.version,
        pageLoadEventMs: Math.round(run.loadEventMs),
        pageLoadToResultMs: Math.round(Number(d["resultAt"])),
        clickToResultMs: Math.round(Number(d["resultAt"]) - Number(d["clickedAt"])),
        pageTestWallMs: Math.round(pageWallMs),
        tokenizeMs: { worker: Math.round(pt["tokenize"]!), node: Math.round(nodeTokenizeMs) },
        denseEvalTokensPerSecond: {
          worker: rate(evalTokens, pt["dense"]!),
          node: rate(evalTokens, nodeDenseMs),
        },
        pruneMs: { worker: Math.round(pt["prune"]!), node: Math.round(nodePruneMs) },
        pruneCalibrationTokensPerSecond: {
          worker: rate(calTokens, pt["prune"]!),
          node: rate(calTokens, nodePruneMs),
        },
        prunedEvalTokensPerSecond: {
          worker: rate(evalTokens, pt["pruned"]!),
          node: rate(evalTokens, nodePrunedMs),
        },
        ppl: { dense: dense.ppl, pruned: pruned.ppl },
      };
      await writeFile(`${results}timings.json`, `${JSON.stringify(timings, null, 2)}\n`);
      console.log(`browser page vs Node (same run):\n${JSON.stringify(timings, null, 2)}`);
    } finally {
      await backend.dispose();
    }
  }, 120_000);
});

function rate(tokens: number, ms: number): number {
  return Math.round(tokens / (ms / 1000));
}
