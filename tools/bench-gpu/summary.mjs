// summary.md of `npm run bench:gpu` (tools/bench-gpu/main.mjs): the adapter, the stages, the
// kernels' dense rates and the prune table, GPU against CPU, from the files the stages wrote (or,
// for bench:scale stopped before its end, from the run lines it had printed).

const f1 = (x) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(1) : "–");
const sec = (ms) => (typeof ms === "number" ? (ms / 1000).toFixed(1) : "–");
const rate = (o) => (o === undefined || o.ms === 0 ? undefined : o.flop / o.ms / 1e6);
const ratio = (a, b) => (Number.isFinite(a / b) && b > 0 ? `${(a / b).toFixed(2)}×` : "–");

/** bench:scale's runs: its JSON, else the `{"job":…}` lines of the log (a run stopped at the deadline). */
function scaleRuns(scale, log) {
  if (scale !== undefined) return { runs: scale.invocations.flatMap((i) => i.runs), from: "scale.json" };
  const runs = [];
  for (const line of log.split("\n")) {
    if (!line.startsWith('{"job":')) continue;
    try {
      runs.push(JSON.parse(line));
    } catch {}
  }
  return { runs, from: "the log (bench:scale did not finish: no scale.json)" };
}

export function renderSummary(s) {
  const a = s.adapter;
  const name = a === undefined ? "no adapter" : a.description || `${a.vendor} ${a.architecture}`.trim();
  const out = [`# bench:gpu — WebGPU kernels and the 1B-shape prune on ${name}`, ""];
  if (s.cpuAdapter) {
    out.push(
      `> **${name} is a CPU adapter (software Vulkan on the processor): these are NOT GPU numbers.** ${s.quick ? "This is the `--quick` smoke run (tiny kernel shapes, the llama-3.2-1b block narrowed to hidden 256 / MLP 1024 / 4:1 heads / vocab 4096, 4 × 64 calibration): it proves that the script runs end to end, nothing about speed." : ""}`,
      "",
    );
  }
  out.push(
    `${s.date} · \`node tools/bench-gpu/main.mjs ${s.argv.join(" ")}\` · ${s.totalS.toFixed(0)} s in all. Files beside this one: adapter.json, ${s.quick ? "kernels-quick" : "kernels-full"}.{json,md} (every kernel and shape), scale.{json,md} (bench:scale's own tables), log.txt. How to run it on the device machine: the header of tools/bench-gpu/main.mjs.`,
    "",
    "## Machine and adapter",
    "",
    "| | |",
    "|---|---|",
  );
  const m = s.machine;
  if (a !== undefined) {
    out.push(
      `| adapter | ${name} (vendor ${a.vendor || "–"}, architecture ${a.architecture || "–"}, device ${a.device || "–"}) |`,
      `| CPU (fallback) adapter | ${s.cpuAdapter ? "**yes**" : "no"} |`,
      `| limits | ${Object.entries(a.limits)
        .map(([k, v]) => `${k} ${v >= 2 ** 20 ? `${(v / 2 ** 20).toFixed(0)} MiB` : v}`)
        .join(", ")} |`,
      `| features | ${a.features.join(", ")} |`,
    );
  } else out.push("| adapter | **none found** (see log.txt) |");
  out.push(
    `| GPU (nvidia-smi) | ${m.nvidiaSmi ?? "–"} |`,
    `| Vulkan drivers installed | ${m.icds.length > 0 ? m.icds.join(", ") : "none in the usual folders"} |`,
    `| Vulkan | ${m.vk.VK_DRIVER_FILES !== undefined ? `VK_DRIVER_FILES=${m.vk.VK_DRIVER_FILES}` : m.vk.VK_ICD_FILENAMES !== undefined ? `VK_ICD_FILENAMES=${m.vk.VK_ICD_FILENAMES}` : "the loader's default search"}; loader: ${m.vulkanLoader || "–"} |`,
    `| CPU | ${m.cpus}, ${m.memGiB} GiB, Node ${m.node} |`,
    "",
    "## Stages",
    "",
    "| stage | status | seconds |",
    "|---|---|---:|",
    ...s.stages.map((st) => `| ${st.name} | ${st.status} | ${st.seconds.toFixed(1)} |`),
    "",
  );

  if (s.kernels !== undefined) {
    const rows = s.kernels.results;
    const shapes = [...new Set(rows.map((r) => `${r.m}×${r.k}×${r.n}`))];
    out.push(
      "## Kernels (matmulTransB as a backend user sees it: x upload, dispatch, readback; weight cached; best of reps)",
      "",
      "| m×k×n | dense ms | dense GF/s | dense GB/s | fastest sparse kernel | its speedup vs dense |",
      "|---|---:|---:|---:|---|---:|",
    );
    for (const sh of shapes) {
      const of = rows.filter((r) => `${r.m}×${r.k}×${r.n}` === sh);
      const dense = of.find((r) => r.kernel === "dense");
      const best = of
        .filter((r) => r.kernel !== "dense")
        .sort((x, y) => y.speedupVsDense - x.speedupVsDense)[0];
      out.push(
        `| ${sh} | ${dense?.ms ?? "–"} | ${dense?.gflops ?? "–"} | ${dense?.gbps ?? "–"} | ${best?.kernel ?? "–"} | ${best === undefined ? "–" : `${best.speedupVsDense}×`} |`,
      );
    }
    out.push("");
  }

  const { runs, from } = scaleRuns(s.scale, s.log);
  const prunes = runs.filter((r) => r.job.kind === "prune");
  if (prunes.length > 0) {
    out.push(
      `## Prune, one llama-3.2-1b block (bench:scale; from ${from})`,
      "",
      "Stage times as bench:scale defines them (scale.md's header). GEMM GFLOP/s: the backend's matmulTransB on 512 × 2048 × 2048 at the start of the same child (on WebGPU with the weight cached, as in the prune).",
      "",
      "| method | level | backend | calibration | total (s) | CPU (s) | forward | statistics | scoring/OBS | writing | matmul GFLOP/s | gram GFLOP/s | GEMM GFLOP/s | peak RSS (GiB) |",
      "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const r of prunes) {
      out.push(
        `| ${r.job.method} | ${r.job.level} | ${r.backend} | ${r.job.nsamples} × ${r.job.seqlen} | ${sec(r.totalMs)} | ${sec(r.cpuMs)} | ${sec(r.forwardMs)} | ${sec(r.statsMs)} | ${sec(r.scoreMs)} | ${sec(r.writeMs)} | ${f1(rate(r.ops?.matmulTransB))} | ${f1(rate(r.ops?.gramAccumulate))} | ${f1(r.gemmGflops)} | ${(r.maxRssMiB / 1024).toFixed(2)} |`,
      );
    }
    out.push("");
    const pairs = prunes
      .filter((r) => r.job.backend === "webgpu")
      .map((g) => [
        g,
        prunes.find(
          (c) => c.job.backend === "native" && c.job.method === g.job.method && c.job.level === g.job.level,
        ),
      ])
      .filter(([, c]) => c !== undefined);
    if (pairs.length > 0) {
      out.push(
        "WebGPU against the CPU default (native) in this run (< 1× = WebGPU takes less time / reaches fewer GFLOP/s):",
        "",
        "| method | level | wall | forward | statistics | scoring/OBS | matmul GFLOP/s | GEMM GFLOP/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        ...pairs.map(
          ([g, c]) =>
            `| ${g.job.method} | ${g.job.level} | ${ratio(g.totalMs, c.totalMs)} | ${ratio(g.forwardMs, c.forwardMs)} | ${ratio(g.statsMs, c.statsMs)} | ${ratio(g.scoreMs, c.scoreMs)} | ${ratio(rate(g.ops?.matmulTransB), rate(c.ops?.matmulTransB))} | ${ratio(g.gemmGflops, c.gemmGflops)} |`,
        ),
        "",
      );
    }
    const gpu = prunes.filter((r) => r.backendStats !== undefined);
    if (gpu.length > 0) {
      out.push(
        "GPU traffic of the WebGPU runs (the backend's counters):",
        "",
        "| method | level | dispatches | submits | uploaded (GiB) | read back (GiB) |",
        "|---|---|---:|---:|---:|---:|",
        ...gpu.map(
          (r) =>
            `| ${r.job.method} | ${r.job.level} | ${r.backendStats.dispatches} | ${r.backendStats.submits} | ${(r.backendStats.uploadedBytes / 2 ** 30).toFixed(2)} | ${(r.backendStats.readBytes / 2 ** 30).toFixed(2)} |`,
        ),
        "",
      );
    }
  }
  const evals = runs.filter((r) => r.job.kind === "eval");
  if (evals.length > 0) {
    out.push(
      "## Eval of the Wanda output",
      "",
      "| backend | windows | embed (s) | blocks (s) | head (s) | total (s) | matmul GFLOP/s | ppl | peak RSS (GiB) |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|",
      ...evals.map(
        (r) =>
          `| ${r.backend} | ${r.job.windows} × ${r.job.seqlen} | ${sec(r.timings.embedMs)} | ${sec(r.timings.blocksMs)} | ${sec(r.timings.headMs)} | ${sec(r.timings.totalMs)} | ${f1(rate(r.ops?.matmulTransB))} | ${typeof r.ppl === "number" ? r.ppl.toFixed(2) : "–"} | ${(r.maxRssMiB / 1024).toFixed(2)} |`,
      ),
      "",
    );
  }
  return `${out.join("\n")}\n`;
}
