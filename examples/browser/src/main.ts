// The page's main thread: reads the form, starts the Web Worker, shows progress, then the table,
// the plot and the download links. All computing happens in the worker (src/worker.ts).
import type { ReportTable } from "@mama-prune/eval";
import type { PickedFile } from "./inputs.ts";
import {
  DEFAULT_SETTINGS,
  type JobProgress,
  type JobResult,
  type JobSettings,
  type PageMethod,
} from "./job.ts";
import type { BackendChoice, ModelInput, RunRequest, TextInput, WorkerMessage } from "./protocol.ts";

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`page: no element #${id}`);
  return el as T;
};
const value = (id: string): string => $<HTMLInputElement | HTMLSelectElement>(id).value;
const checked = (name: string): string =>
  document.querySelector<HTMLInputElement>(`input[name="${name}"]:checked`)?.value ?? "bundled";

const STAGES: Record<JobProgress["stage"], string> = {
  load: "loading model and text",
  tokenize: "tokenizing the text",
  dense: "dense model: evaluation windows",
  calibrate: "drawing calibration windows",
  prune: "pruning: blocks done",
  pruned: "pruned model: evaluation windows",
  write: "writing the pruned checkpoint",
};

let worker: Worker | undefined;
let downloadUrls: string[] = [];

function fmt(v: number, digits = 4): string {
  return Number.isFinite(v) && Math.abs(v) >= 1e6 ? v.toExponential(digits - 1) : v.toFixed(digits);
}

function picked(input: HTMLInputElement): PickedFile[] {
  return Array.from(input.files ?? [], (f) => ({ path: f.webkitRelativePath || f.name, file: f }));
}

function modelInput(): ModelInput {
  const kind = checked("model");
  if (kind === "bundled") return { kind: "bundled" };
  const input = $<HTMLInputElement>(kind === "folder" ? "model-folder" : "model-files");
  const files = picked(input);
  if (files.length === 0) throw new Error(`model: pick ${kind === "folder" ? "a folder" : "files"} first.`);
  const name =
    kind === "folder" ? (files[0]!.path.split("/")[0] ?? "folder") : files.map((f) => f.path).join(" + ");
  return { kind: "files", name, files };
}

function textInput(): TextInput {
  if (checked("text") === "bundled") return { kind: "bundled" };
  const file = $<HTMLInputElement>("text-file").files?.[0];
  if (file === undefined) throw new Error("text: pick a text file first.");
  return { kind: "file", file };
}

function settings(): JobSettings {
  const pattern = value("pattern");
  const num = (id: string, label: string, integer = true): number => {
    const v = Number(value(id));
    if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new Error(`${label}: expected ${integer ? "an integer" : "a number"}, got "${value(id)}".`);
    }
    return v;
  };
  const [n, m] = pattern.split(":").map(Number);
  const format = value("format") as JobSettings["format"];
  if (format === "sparse-24-bitmask" && pattern !== "2:4") {
    throw new Error(`download as sparse-24-bitmask: needs the 2:4 pattern, got ${pattern}.`);
  }
  return {
    ...DEFAULT_SETTINGS,
    method: value("method") as PageMethod,
    sparsity: pattern === "unstructured" ? num("sparsity", "sparsity", false) : { n: n!, m: m! },
    nsamples: num("nsamples", "calibration windows"),
    calibrationSeqlen: num("cal-seqlen", "calibration tokens"),
    seed: num("seed", "seed"),
    evalWindows: num("eval-windows", "eval windows"),
    evalSeqlen: num("eval-seqlen", "eval tokens"),
    format,
  };
}

function setBusy(busy: boolean): void {
  $<HTMLButtonElement>("run").disabled = busy;
  $<HTMLButtonElement>("cancel").disabled = !busy;
  document.body.dataset["state"] = busy ? "running" : (document.body.dataset["state"] ?? "idle");
}

function showStage(text: string, done = 0, total = 1): void {
  $("stage").textContent = text;
  const p = $<HTMLProgressElement>("progress");
  p.max = Math.max(total, 1);
  p.value = done;
}

function fail(message: string): void {
  showStage(`Error: ${message}`);
  $("stage").classList.add("error");
  document.body.dataset["state"] = "error";
  setBusy(false);
  worker?.terminate();
  worker = undefined;
}

function renderTable(t: ReportTable): void {
  const table = $<HTMLTableElement>("result-table");
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const h of [t.levelHeader ?? "Pruning level", ...t.columns]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  const body = table.createTBody();
  t.levels.forEach((level, r) => {
    const row = body.insertRow();
    row.insertCell().textContent = level === "0" ? "0 (dense)" : level;
    for (const v of t.values[r] ?? []) {
      const cell = row.insertCell();
      cell.textContent = fmt(v);
      cell.className = "num";
    }
  });
}

function renderResult(r: JobResult, clickedAt: number): void {
  const done = performance.now();
  const box = $("result");
  box.hidden = false;
  $("result-title").textContent = r.table.title;
  renderTable(r.table);
  $("protocol").textContent = `Protocol: ${r.table.protocol}`;
  $("plot").innerHTML = r.svg; // generated by @mama-prune/eval, every label escaped
  const t = r.timings;
  const tokps = (tokens: number, ms: number): string =>
    `${Math.round(tokens / (ms / 1000)).toLocaleString("en")} tokens/s`;
  const evalTokens = r.dense.windows * r.dense.seqlen;
  $("summary").textContent =
    `${r.report.method} (scorer ${r.report.scorer}, redistribution ${r.report.redistribution}): ` +
    `${(100 * r.report.overallSparsity).toFixed(1)} % of the block linears are zero ` +
    `(${r.report.zeros.toLocaleString("en")} of ${r.report.total.toLocaleString("en")}). ` +
    `Times on ${r.backend}: load ${(t.load / 1000).toFixed(2)} s, tokenize ${(t.tokenize / 1000).toFixed(2)} s, dense evaluation ${(t.dense / 1000).toFixed(2)} s ` +
    `(${tokps(evalTokens, t.dense)}), prune ${(t.prune / 1000).toFixed(2)} s` +
    (r.calibrationTokens > 0 ? ` (${r.calibrationTokens} calibration tokens)` : "") +
    `, pruned evaluation ${(t.pruned / 1000).toFixed(2)} s, write ${(t.write / 1000).toFixed(2)} s; ` +
    `${((done - clickedAt) / 1000).toFixed(2)} s from the click to this result.` +
    (r.report.warnings.length > 0 ? ` Warnings: ${r.report.warnings.join("; ")}` : "");

  for (const u of downloadUrls) URL.revokeObjectURL(u);
  downloadUrls = [];
  const list = $("downloads");
  list.replaceChildren();
  for (const [name, bytes] of r.files) {
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
    downloadUrls.push(url);
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    a.textContent = name;
    const li = document.createElement("li");
    li.append(a, ` (${bytes.byteLength.toLocaleString("en")} bytes)`);
    list.append(li);
  }

  // Exact numbers for the browser test (and anyone scripting the page).
  Object.assign(box.dataset, {
    densePpl: String(r.dense.ppl),
    prunedPpl: String(r.pruned.ppl),
    denseNll: String(r.dense.meanNll),
    prunedNll: String(r.pruned.meanNll),
    tokensScored: String(r.pruned.tokensScored),
    datasetSha256: r.dense.datasetSha256,
    overallSparsity: String(r.report.overallSparsity),
    backend: r.backend,
    timings: JSON.stringify({ ...t, calibrationTokens: r.calibrationTokens, evalTokens }),
    clickedAt: String(clickedAt),
    resultAt: String(done),
  });
  showStage(`Done: ppl ${fmt(r.dense.ppl)} dense → ${fmt(r.pruned.ppl)} pruned.`, 1, 1);
  document.body.dataset["state"] = "done";
  setBusy(false);
}

function start(): void {
  let request: RunRequest;
  try {
    request = {
      type: "run",
      model: modelInput(),
      text: textInput(),
      settings: settings(),
      backend: value("backend") as BackendChoice,
    };
  } catch (e) {
    fail((e as Error).message);
    return;
  }
  const clickedAt = performance.now();
  $("stage").classList.remove("error");
  setBusy(true);
  showStage(STAGES.load);
  worker?.terminate();
  const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  worker = w;
  w.onmessage = (event: MessageEvent<WorkerMessage>) => {
    const m = event.data;
    if (m.type === "backend") {
      $("backend-line").textContent = `Backend: ${m.name} — ${m.note}.`;
      document.body.dataset["backend"] = m.name;
    } else if (m.type === "progress") {
      showStage(
        `${STAGES[m.progress.stage]} (${m.progress.done}/${m.progress.total})`,
        m.progress.done,
        m.progress.total,
      );
    } else if (m.type === "result") {
      renderResult(m.result, clickedAt);
      w.terminate();
      worker = undefined;
    } else {
      fail(m.code !== undefined ? `${m.code}: ${m.message}` : m.message);
    }
  };
  w.onerror = (e) => fail(e.message || "the worker failed to start");
  w.postMessage(request);
}

$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  start();
});
$("cancel").addEventListener("click", () => {
  worker?.terminate();
  worker = undefined;
  showStage("Cancelled.");
  // An N:M pattern fixes the sparsity (N/M).
  const syncSparsity = (): void => {
    const p = value("pattern");
    const input = $<HTMLInputElement>("sparsity");
    input.disabled = p !== "unstructured";
    if (p !== "unstructured") {
      const [n, m] = p.split(":").map(Number);
      input.value = String(n! / m!);
    }
  };
  $("pattern").addEventListener("change", syncSparsity);
  syncSparsity();
  document.body.dataset["state"] = "idle";
  setBusy(false);
});
// Picking files selects the matching radio button.
for (const [input, radio] of [
  ["model-files", 'input[name="model"][value="files"]'],
  ["model-folder", 'input[name="model"][value="folder"]'],
  ["text-file", 'input[name="text"][value="file"]'],
] as const) {
  $(input).addEventListener("change", () => {
    const r = document.querySelector<HTMLInputElement>(radio);
    if (r !== null) r.checked = true;
  });
}
// An N:M pattern fixes the sparsity (N/M).
const syncSparsity = (): void => {
  const p = value("pattern");
  const input = $<HTMLInputElement>("sparsity");
  input.disabled = p !== "unstructured";
  if (p !== "unstructured") {
    const [n, m] = p.split(":").map(Number);
    input.value = String(n! / m!);
  }
};
$("pattern").addEventListener("change", syncSparsity);
syncSparsity();
document.body.dataset["state"] = "idle";
