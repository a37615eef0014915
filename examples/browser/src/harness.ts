// Node-side helpers of the browser test and the throughput benchmark (never bundled into the page):
// build and serve the page on 127.0.0.1, drive Debian's Chromium with playwright-core while
// recording every request, and run the same job in Node with the library's own calls.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createWasmBackendNode } from "@mama-prune/compute-wasm/node";
import { cachingTokenizer, perplexity } from "@mama-prune/eval";
import { createLlama2cTokenizer, loadLlama } from "@mama-prune/model";
import {
  calibrationWindows,
  type PruneReport,
  prune,
  prunedCheckpointEntries,
  pruneMetadata,
  splitCalibrationText,
} from "@mama-prune/pipeline";
import {
  memoryCheckpointDir,
  readLlama2c,
  readLlama2cTokenizer,
  writeHfCheckpoint,
} from "@mama-prune/tensor-io";
import { type Browser, chromium, type Request } from "playwright-core";
import { build, createServer, preview } from "vite";
import type { JobSettings } from "./job.ts";

/** Debian's Chromium; the browser test skips (with a message) when it is absent. */
export const CHROMIUM = "/usr/bin/chromium";
export const hasChromium = (): boolean => existsSync(CHROMIUM);

const root = fileURLToPath(new URL("..", import.meta.url));
const data = fileURLToPath(new URL("../../../data/", import.meta.url));

/** A running server of the page. */
export interface PageServer {
  /** e.g. "http://127.0.0.1:41234" */
  readonly origin: string;
  close(): Promise<void>;
}

/**
 * Serve the page on 127.0.0.1 with a free port: `"preview"` builds it first (`vite build` into
 * dist/) and serves the bundle, `"dev"` runs Vite's dev server on the sources.
 */
export async function servePage(mode: "preview" | "dev"): Promise<PageServer> {
  const common = { root, configFile: `${root}vite.config.ts`, logLevel: "warn" as const };
  if (mode === "preview") await build(common);
  const server =
    mode === "preview"
      ? await preview({ ...common, preview: { port: 0, strictPort: true, open: false } })
      : await (
          await createServer({ ...common, server: { port: 0, strictPort: true, open: false } })
        ).listen();
  const address = server.httpServer?.address();
  if (address === null || address === undefined || typeof address === "string") {
    await server.close();
    throw new Error(`vite ${mode}: the server has no TCP address`);
  }
  return { origin: `http://127.0.0.1:${address.port}`, close: () => server.close() };
}

/** Headless Chromium from Debian, no browser download. */
export async function launchChromium(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless=new", "--no-sandbox"],
  });
}

/** One request the page made. */
export interface RecordedRequest {
  readonly url: string;
  readonly method: string;
  /** Made after the initial page load had settled (network idle). */
  readonly afterLoad: boolean;
}

/** What a run of the page produced. */
export interface PageRun {
  /** The result section's data attributes: exact numbers, backend, timings (JSON). */
  readonly dataset: Record<string, string>;
  readonly requests: readonly RecordedRequest[];
  /** Navigation start → load event end (ms). */
  readonly loadEventMs: number;
  readonly crossOriginIsolated: boolean;
  readonly downloads: ReadonlyMap<string, Uint8Array>;
  readonly backendLine: string;
  readonly tableText: string;
  readonly pageErrors: readonly string[];
}

/** Options of {@link runPage}. */
export interface RunPageOptions {
  /** Form values to set before pressing Prune (element id → value). */
  readonly form?: Readonly<Record<string, string>>;
  /** Files to download from the result's links. */
  readonly download?: readonly string[];
  /** Full-page screenshot path. */
  readonly screenshot?: string;
  readonly timeoutMs?: number;
}

/**
 * Open the page in a fresh context, set the form, press Prune and wait for the result. Every request
 * of the page and its workers is recorded; any request not addressed to `origin` is aborted.
 *
 * @throws Error when the page ends in an error state (with the page's message).
 */
export async function runPage(
  browser: Browser,
  origin: string,
  options: RunPageOptions = {},
): Promise<PageRun> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 }, acceptDownloads: true });
  try {
    const requests: RecordedRequest[] = [];
    let afterLoad = false;
    context.on("request", (r: Request) => requests.push({ url: r.url(), method: r.method(), afterLoad }));
    await context.route(
      (url) => url.origin !== origin,
      (route) => route.abort("blockedbyclient"),
    );
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(`${origin}/`, { waitUntil: "networkidle" });
    afterLoad = true;
    const loadEventMs = await page.evaluate(
      () => (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).loadEventEnd,
    );
    const isolated = await page.evaluate(() => crossOriginIsolated);
    for (const [id, value] of Object.entries(options.form ?? {})) {
      const tag = await page.$eval(`#${id}`, (el) => el.tagName);
      if (tag === "SELECT") await page.selectOption(`#${id}`, value);
      else await page.fill(`#${id}`, value);
    }
    await page.click("#run");
    await page.waitForFunction(() => document.body.dataset["state"] !== "running", undefined, {
      timeout: options.timeoutMs ?? 90_000,
    });
    const state = await page.evaluate(() => document.body.dataset["state"]);
    if (state !== "done") {
      throw new Error(
        `page ended in state ${state}: ${await page.textContent("#stage")} ${pageErrors.join("; ")}`,
      );
    }
    if (options.screenshot !== undefined) {
      await mkdir(dirname(options.screenshot), { recursive: true });
      await page.screenshot({ path: options.screenshot, fullPage: true });
    }
    const dataset = await page.evaluate(
      () => ({ ...document.getElementById("result")!.dataset }) as Record<string, string>,
    );
    const downloads = new Map<string, Uint8Array>();
    for (const name of options.download ?? []) {
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.click(`a[download="${name}"]`),
      ]);
      downloads.set(name, new Uint8Array(await readFile(await download.path())));
    }
    return {
      dataset,
      requests,
      loadEventMs,
      crossOriginIsolated: isolated,
      downloads,
      backendLine: (await page.textContent("#backend-line")) ?? "",
      tableText: (await page.textContent("#result-table")) ?? "",
      pageErrors,
    };
  } finally {
    await context.close();
  }
}

/** The page's job redone in Node. */
export interface NodeRun {
  readonly dense: { readonly ppl: number; readonly meanNll: number; readonly sha256: string };
  readonly pruned: { readonly ppl: number; readonly meanNll: number; readonly tokensScored: number };
  readonly report: PruneReport;
  /** The pruned checkpoint as the page writes it (dense layout). */
  readonly files: ReadonlyMap<string, Uint8Array>;
  readonly tokenizerBytes: Uint8Array;
  /** ms, timed like the page's: tokenize once, dense (load + evaluate), prune, pruned evaluation. */
  readonly timings: {
    readonly tokenize: number;
    readonly dense: number;
    readonly prune: number;
    readonly pruned: number;
  };
  /** CPU time of this process (all threads) / wall time during the prune: the cores Node obtained. */
  readonly pruneCores: number;
  /** CPU seconds of this process (all threads) for the whole job. */
  readonly cpuSeconds: number;
}

/**
 * The page's default job in Node, written from the library's public calls (not from src/job.ts):
 * the bundled model and text, the text split like `mama-prune sweep`, seeded calibration windows,
 * `prune`, `perplexity` on the evaluation split, on the wasm backend with `threads` threads.
 */
export async function nodeReference(settings: JobSettings, threads: number): Promise<NodeRun> {
  if (typeof settings.sparsity !== "number" || settings.method === "magnitude") {
    throw new RangeError("nodeReference: written for unstructured sparsity and a calibrated method");
  }
  const bytes = async (p: string): Promise<Uint8Array> => new Uint8Array(await readFile(`${data}${p}`));
  const modelBytes = await bytes("stories260K/stories260K.bin");
  const tokenizerBytes = await bytes("stories260K/tok512.bin");
  const checkpoint = await readLlama2c(modelBytes, "stories260K.bin");
  const tokenizer = cachingTokenizer(
    createLlama2cTokenizer(readLlama2cTokenizer(tokenizerBytes, 512, "tok512.bin")),
  );
  const text = await readFile(`${data}tinystories/tinystories_val.txt`, "utf8");
  const split = splitCalibrationText(text, { calibrationFraction: settings.split });
  const cpuStart = process.cpuUsage();
  const backend = await createWasmBackendNode({ threads });
  try {
    const evalOptions = { seqlen: settings.evalSeqlen, maxWindows: settings.evalWindows };
    let t = performance.now();
    tokenizer.encode(split.evaluation, { bos: false, eos: false });
    const stream = tokenizer.encode(split.calibration, { bos: false, eos: false });
    const tokenize = performance.now() - t;
    t = performance.now();
    const dense = await perplexity(
      await loadLlama(checkpoint, { backend }),
      tokenizer,
      split.evaluation,
      evalOptions,
    );
    const denseMs = performance.now() - t;
    const calibration = calibrationWindows(stream, {
      nsamples: settings.nsamples,
      seqlen: settings.calibrationSeqlen,
      seed: settings.seed,
    });
    t = performance.now();
    const cpu0 = process.cpuUsage();
    const { model, report } = await prune({
      checkpoint,
      backend,
      method: settings.method,
      sparsity: settings.sparsity,
      calibration,
    });
    const pruneMs = performance.now() - t;
    const cpu = process.cpuUsage(cpu0);
    t = performance.now();
    const pruned = await perplexity(model, tokenizer, split.evaluation, evalOptions);
    const prunedMs = performance.now() - t;
    const cpuJob = process.cpuUsage(cpuStart);
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
      extraFiles: [{ file: "tokenizer.bin", data: tokenizerBytes }],
    });
    return {
      dense: { ppl: dense.ppl, meanNll: dense.meanNll, sha256: dense.dataset.sha256 },
      pruned: { ppl: pruned.ppl, meanNll: pruned.meanNll, tokensScored: pruned.tokensScored },
      report,
      files: dir.files,
      tokenizerBytes,
      timings: { tokenize, dense: denseMs, prune: pruneMs, pruned: prunedMs },
      pruneCores: (cpu.user + cpu.system) / 1000 / pruneMs,
      cpuSeconds: (cpuJob.user + cpuJob.system) / 1e6,
    };
  } finally {
    await backend.dispose();
  }
}

/**
 * CPU seconds (user + system) used so far by every descendant process of `pid` (Linux /proc; 0
 * elsewhere): measured around a page run, the browser's CPU time, whatever session it runs in.
 */
export function descendantCpuSeconds(pid: number = process.pid): number {
  let procs: { pid: number; ppid: number; ticks: number }[] = [];
  try {
    procs = readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .flatMap((d) => {
        try {
          const st = readFileSync(`/proc/${d}/stat`, "utf8");
          const f = st.slice(st.lastIndexOf(")") + 2).split(" "); // f[0] = state (field 3)
          return [{ pid: Number(d), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }];
        } catch {
          return []; // exited meanwhile
        }
      });
  } catch {
    return 0;
  }
  const children = new Map<number, number[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const ticks = new Map(procs.map((p) => [p.pid, p.ticks]));
  let total = 0;
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length > 0) {
    const p = stack.pop()!;
    total += ticks.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total / 100; // USER_HZ
}

/** Tokens per second, rounded. */
export function rate(tokens: number, ms: number): number {
  return Math.round(tokens / (ms / 1000));
}
