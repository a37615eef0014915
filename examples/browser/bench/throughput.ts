// The page's Web Worker against Node on the same work, measured in one run (npm run bench):
//  1. the default run on a freshly opened page: page load → first result;
//  2. a larger job (calibration 32 × 256, evaluation 16 × 256, Wanda 50 %), alternately in the page
//     and in Node (same wasm backend, same thread count), 3 rounds each; medians of the tokens/s.
// Writes bench-results/throughput.json and prints a Markdown table.
//
// Fairness on a shared Linux machine: Playwright starts Chromium in a new session, and with autogroup
// scheduling every session gets an equal share of the CPU however many processes it holds. So the
// Node side runs in a child process started the same way (detached: a new session), not inside this
// process, which shares its session with whatever else the terminal runs.
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import {
  descendantCpuSeconds,
  launchChromium,
  type NodeRun,
  nodeReference,
  rate,
  runPage,
  servePage,
} from "../src/harness.ts";
import { DEFAULT_SETTINGS, type JobSettings } from "../src/job.ts";

const ROUNDS = 3;
const big: JobSettings = {
  ...DEFAULT_SETTINGS,
  nsamples: 32,
  calibrationSeqlen: 256,
  evalWindows: 16,
  evalSeqlen: 256,
};
const form = {
  backend: "wasm",
  nsamples: String(big.nsamples),
  "cal-seqlen": String(big.calibrationSeqlen),
  "eval-windows": String(big.evalWindows),
  "eval-seqlen": String(big.evalSeqlen),
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

type NodeSide = Pick<NodeRun, "timings" | "pruneCores" | "cpuSeconds"> & { readonly ppl: number };

if (process.argv[2] === "--node-child") {
  const r = await nodeReference(big, Number(process.argv[3]));
  process.stdout.write(
    JSON.stringify({
      timings: r.timings,
      pruneCores: r.pruneCores,
      cpuSeconds: r.cpuSeconds,
      ppl: r.pruned.ppl,
    }),
  );
  process.exit(0);
}

/** The Node side in a detached child (its own session, hence its own autogroup, like Chromium). */
function nodeInChild(threads: number): Promise<NodeSide> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, process.argv[1]!, "--node-child", String(threads)],
      {
        detached: true,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code: number | null) =>
      code === 0 ? resolve(JSON.parse(out) as NodeSide) : reject(new Error(`node child exited with ${code}`)),
    );
  });
}

const load0 = loadavg()[0]!;
const server = await servePage("preview");
const browser = await launchChromium();
try {
  const first = await runPage(browser, server.origin, { form: { backend: "wasm" } });
  const defaults = {
    loadEventMs: Math.round(first.loadEventMs),
    loadToResultMs: Math.round(Number(first.dataset["resultAt"])),
    clickToResultMs: Math.round(Number(first.dataset["resultAt"]) - Number(first.dataset["clickedAt"])),
  };
  const threads = Number(/wasm-simd x(\d+)/.exec(first.dataset["backend"] ?? "")?.[1] ?? 1);
  const evalTokens = big.evalWindows * big.evalSeqlen;
  const calTokens = big.nsamples * big.calibrationSeqlen;
  const rows: Record<string, { worker: number[]; node: number[] }> = {
    "tokenize (ms)": { worker: [], node: [] },
    "dense evaluation (tokens/s, load + forward)": { worker: [], node: [] },
    "prune (ms)": { worker: [], node: [] },
    "prune (calibration tokens/s)": { worker: [], node: [] },
    "pruned evaluation (tokens/s)": { worker: [], node: [] },
  };
  const nodePruneCores: number[] = [];
  // CPU seconds per job: the browser's processes (page load included) vs the Node child's.
  const jobCpu = { worker: [] as number[], node: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    const cpu0 = descendantCpuSeconds();
    const page = await runPage(browser, server.origin, { form });
    jobCpu.worker.push(descendantCpuSeconds() - cpu0);
    const pt = JSON.parse(page.dataset["timings"]!) as Record<string, number>;
    const node = await nodeInChild(threads);
    if (Number(page.dataset["prunedPpl"]) !== node.ppl) {
      throw new Error(`round ${r}: page ppl ${page.dataset["prunedPpl"]} ≠ Node ppl ${node.ppl}`);
    }
    const nt = node.timings;
    jobCpu.node.push(node.cpuSeconds);
    nodePruneCores.push(Math.round(node.pruneCores * 100) / 100);
    rows["tokenize (ms)"]!.worker.push(pt["tokenize"]!);
    rows["tokenize (ms)"]!.node.push(nt.tokenize);
    rows["dense evaluation (tokens/s, load + forward)"]!.worker.push(rate(evalTokens, pt["dense"]!));
    rows["dense evaluation (tokens/s, load + forward)"]!.node.push(rate(evalTokens, nt.dense));
    rows["prune (ms)"]!.worker.push(pt["prune"]!);
    rows["prune (ms)"]!.node.push(nt.prune);
    rows["prune (calibration tokens/s)"]!.worker.push(rate(calTokens, pt["prune"]!));
    rows["prune (calibration tokens/s)"]!.node.push(rate(calTokens, nt.prune));
    rows["pruned evaluation (tokens/s)"]!.worker.push(rate(evalTokens, pt["pruned"]!));
    rows["pruned evaluation (tokens/s)"]!.node.push(rate(evalTokens, nt.pruned));
    console.error(`round ${r + 1}/${ROUNDS} done (ppl ${node.ppl.toFixed(4)} in both)`);
  }
  const out = {
    date: new Date().toISOString().slice(0, 10),
    chromium: browser.version(),
    node: process.version,
    backend: first.dataset["backend"],
    loadavg: { before: load0, after: loadavg()[0]! },
    defaults,
    job: {
      method: big.method,
      sparsity: big.sparsity,
      calibration: `${big.nsamples} × ${big.calibrationSeqlen}`,
      evaluation: `${big.evalWindows} × ${big.evalSeqlen}`,
    },
    rounds: ROUNDS,
    nodePruneCoresObtained: nodePruneCores,
    jobCpuSeconds: { worker: median(jobCpu.worker), node: median(jobCpu.node), all: jobCpu },
    rows: Object.fromEntries(
      Object.entries(rows).map(([k, v]) => [k, { worker: median(v.worker), node: median(v.node), all: v }]),
    ),
  };
  const dir = fileURLToPath(new URL("../bench-results/", import.meta.url));
  await mkdir(dir, { recursive: true });
  await writeFile(`${dir}throughput.json`, `${JSON.stringify(out, null, 2)}\n`);
  console.log(
    `Chromium ${out.chromium} vs Node ${out.node}, ${out.backend}, load average ${load0.toFixed(1)} → ${out.loadavg.after.toFixed(1)}`,
  );
  console.log(
    `default run: load event ${defaults.loadEventMs} ms, page load → first result ${defaults.loadToResultMs} ms (click → result ${defaults.clickToResultMs} ms)\n`,
  );
  console.log(
    `| ${out.job.method} ${big.sparsity}, calibration ${out.job.calibration}, evaluation ${out.job.evaluation} | Web Worker (median of ${ROUNDS}) | Node (median of ${ROUNDS}) |`,
  );
  console.log("|---|---:|---:|");
  for (const [k, v] of Object.entries(out.rows))
    console.log(`| ${k} | ${Math.round(v.worker)} | ${Math.round(v.node)} |`);
  console.log(
    `| CPU seconds for the whole job (all processes / threads) | ${out.jobCpuSeconds.worker.toFixed(1)} | ${out.jobCpuSeconds.node.toFixed(1)} |`,
  );
  console.log(`\ncores Node obtained while pruning (CPU time / wall time): ${nodePruneCores.join(", ")}`);
} finally {
  await browser.close();
  await server.close();
}
