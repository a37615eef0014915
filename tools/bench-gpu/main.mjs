#!/usr/bin/env node
// `npm run bench:gpu`: the WebGPU benchmarks of issue 12 in one invocation, for a machine with a GPU
// (the device tool's H100/H200). Never part of CI. In order, each stage a child process:
//   1. the adapter: name, vendor, architecture, fallback flag, the limits that bound the kernels'
//      tiling and the features (adapter.json), plus nvidia-smi and the Vulkan loader seen;
//   2. the kernels benchmark (packages/kernels-webgpu/bench/kernels.bench.ts --full: dense, CSR,
//      bitmask and 2:4 kernels at tokens 1/128/512 × 1024–4096 features) → kernels-full.{json,md};
//   3. bench:scale on the llama-3.2-1b shape, 1 layer, 32 × 512 calibration, Wanda and SparseGPT at
//      0.5, `--backend webgpu,native` (the GPU and the CPU default back to back in one invocation)
//      → scale.{json,md};
//   4. summary.md (adapter, stage times, the kernels' dense rates, the prune table, GPU / CPU ratios)
//      and log.txt (everything the stages printed).
// Everything goes under --out (default results/bench-gpu): 7 files, within the device tool's 8.
//
//   node tools/bench-gpu/main.mjs [--quick] [--out DIR] [--eval] [--deadline-s 540] [--allow-cpu-adapter]
//   --quick   tiny shapes (kernels --quick; the 1B shape narrowed to hidden 256 / MLP 1024 / 4:1 heads /
//             vocab 4096, 4 × 64 calibration, with an eval): proves the whole script end to end on
//             SwiftShader in about a minute; its numbers are NOT GPU numbers and summary.md says so.
//   --eval    also evaluate the Wanda output (16 × 512 windows) on both backends (full mode; quick always does).
//   --deadline-s  wall-clock budget of the whole run: each stage gets what is left (the kernels at most
//             a third), a stage over its time is stopped and the summary written with what finished.
//   A CPU adapter (SwiftShader, llvmpipe) stops a full run unless --allow-cpu-adapter.
//
// Time on an H100 machine (16 cores), estimated from the flops (not yet measured there): unpacking
// ≈ 15 s; kernels --full ≈ 1 min (96 weights of up to 4096² drawn in JS, 4 timed calls each, ≈ 0.2
// TFLOP in all); synth of the 1-layer 1B shape ≈ 15 s (262 M embedding values in JS); per prune run
// ≈ 5 s of GEMMs (about 1.2 TFLOP for the block's linears, forward and Gram, at ≥ 0.3 TFLOP/s) plus
// what runs in JavaScript whatever the backend — on WebGPU the attention of 32 × 512 tokens
// (≈ 35 GFLOP causal, ≈ 30–60 s at JS speed; the native backend has wasm attention), SparseGPT's
// float64 Cholesky/inverse of the 8192² down_proj Hessian and its OBS sweep (≈ 20–40 s). So ≈ 1 min
// for Wanda and ≈ 1.5–2 min for SparseGPT on WebGPU, under 1 min each on native: ≈ 6 min in all, under
// the 9-min default deadline and the tool's 10-min command limit. --quick on SwiftShader here: ≈ 1 min.
//
// ON THE DEVICE MACHINE (no internet: `npm ci` cannot run there, and node_modules is ~830 MiB):
//   1. here, once per checkout: `npm run bench:gpu:pack` → .gpu-carry/ (git-ignored, ≈ 44 MiB: Node,
//      node_modules cut to what runs, Linux x86-64 binaries only, the Vulkan loader; see pack.mjs);
//      it prints carry + working tree against the tool's 64 MiB;
//   2. one device `run`, carry [".gpu-carry"], timeout_s 600, command:
//        set -e; for f in .gpu-carry/*.deb; do dpkg -x $f /; done; ldconfig; mkdir -p /tmp/nb; xz -dc .gpu-carry/node.xz >/tmp/nb/node; chmod +x /tmp/nb/node; export PATH=/tmp/nb:$PATH; tar -xJf .gpu-carry/node_modules.tar.xz; node tools/bench-gpu/main.mjs --out $OUT/bench-gpu
//      (the script sets VK_DRIVER_FILES to the NVIDIA Vulkan driver under /usr/local/nvidia when no
//      ICD is named; nothing else is needed — the sources run through tsx, no build);
//   3. copy the 7 files it brings back (files_at/bench-gpu/) to results/bench-gpu/ and commit them.
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { renderSummary } from "./summary.mjs";

const ROOT = join(dirname(new URL(import.meta.url).pathname), "..", "..");
const SELF = new URL(import.meta.url).pathname;
const SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json";
const NVIDIA_ICDS = [
  "/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json",
  "/usr/share/vulkan/icd.d/nvidia_icd.json",
  "/etc/vulkan/icd.d/nvidia_icd.json",
];
/** The quick mode's narrowed llama-3.2-1b block (bench:scale --width / --vocab). */
const QUICK_WIDTH = {
  hidden_size: 256,
  intermediate_size: 1024,
  num_attention_heads: 4,
  num_key_value_heads: 1,
};

// ---- Child: the adapter ----

const LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "minStorageBufferOffsetAlignment",
  "maxSubgroupSize",
  "minSubgroupSize",
];

async function probeAdapter(file) {
  const { create } = await import("webgpu");
  const gpu = create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (adapter === null || adapter === undefined) {
    console.error("bench:gpu: no WebGPU adapter (Dawn found no Vulkan device; see the VK_* lines above)");
    process.exit(3);
  }
  const info = adapter.info ?? {};
  const limits = {};
  for (const k of LIMITS) if (adapter.limits[k] !== undefined) limits[k] = adapter.limits[k];
  const out = {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
    isFallbackAdapter: adapter.isFallbackAdapter === true || info.isFallbackAdapter === true,
    limits,
    features: [...adapter.features].map(String).sort(),
  };
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`adapter: ${JSON.stringify(out)}`);
  process.exit(0); // Dawn's instance would keep the process alive
}

// ---- Parent ----

const isCpuAdapter = (a) =>
  a.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe/i.test(`${a.description} ${a.architecture}`);

async function main() {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      eval: { type: "boolean", default: false },
      out: { type: "string", default: "results/bench-gpu" },
      "deadline-s": { type: "string", default: "540" },
      "allow-cpu-adapter": { type: "boolean", default: false },
    },
  });
  const started = Date.now();
  const deadline = started + Number(values["deadline-s"]) * 1000;
  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });
  const logFile = createWriteStream(join(out, "log.txt"));
  const say = (s) => {
    console.log(s);
    logFile.write(`${s}\n`);
  };
  const stages = [];

  // The Vulkan driver: as named by the caller, else the NVIDIA one where it is installed, else (only
  // when no GPU driver is there) SwiftShader — summary.md names the adapter that ran.
  const env = { ...process.env };
  if (env.VK_ICD_FILENAMES === undefined && env.VK_DRIVER_FILES === undefined) {
    const nv = NVIDIA_ICDS.find((p) => existsSync(p));
    if (nv !== undefined) env.VK_DRIVER_FILES = nv;
    else if (existsSync(SWIFTSHADER)) env.VK_ICD_FILENAMES = SWIFTSHADER;
  }
  const machine = {
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
    memGiB: +(totalmem() / 2 ** 30).toFixed(1),
    vk: { VK_ICD_FILENAMES: env.VK_ICD_FILENAMES, VK_DRIVER_FILES: env.VK_DRIVER_FILES },
    nvidiaSmi: tryRun("nvidia-smi", [
      "--query-gpu=name,driver_version,memory.total",
      "--format=csv,noheader",
    ]),
    vulkanLoader: (tryRun("ldconfig", ["-p"]) ?? "")
      .split("\n")
      .filter((l) => /libvulkan\.so/.test(l))
      .map((l) => l.trim())
      .join("; "),
  };
  say(`bench:gpu ${values.quick ? "--quick " : ""}→ ${out}`);
  say(`machine: ${JSON.stringify(machine)}`);

  /** One stage: a child process with the stage's own time limit; its output goes to the console and log.txt. */
  const stage = async (name, args, capS) => {
    const left = (deadline - Date.now()) / 1000;
    const limitS = Math.max(0, Math.min(capS, left));
    if (limitS < 5) {
      stages.push({ name, status: "skipped (deadline)", seconds: 0 });
      say(`▶ ${name}: skipped, the deadline is reached`);
      return false;
    }
    say(`▶ ${name} (limit ${limitS.toFixed(0)} s): node ${args.join(" ")}`);
    const t = Date.now();
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const pipe = (s, to) =>
      s.on("data", (d) => {
        to.write(d);
        logFile.write(d);
      });
    pipe(child.stdout, process.stdout);
    pipe(child.stderr, process.stderr);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      say(`bench:gpu: ${name} over its ${limitS.toFixed(0)} s: stopped`);
      try {
        process.kill(-child.pid, "SIGKILL"); // the stage's whole process group (bench:scale's children too)
      } catch {}
    }, limitS * 1000);
    const code = await new Promise((r) => child.on("close", (c, sig) => r(c ?? sig)));
    clearTimeout(timer);
    const seconds = (Date.now() - t) / 1000;
    const status = timedOut
      ? `stopped after ${limitS.toFixed(0)} s`
      : code === 0
        ? "ok"
        : `failed (exit ${code})`;
    stages.push({ name, status, seconds });
    say(`  ${name}: ${status}, ${seconds.toFixed(1)} s`);
    return code === 0 && !timedOut;
  };

  const tsx = ["--conditions", "@mama-prune/source", "--import", "tsx"];
  let adapter;
  if (await stage("adapter", [SELF, "--probe", join(out, "adapter.json")], 90)) {
    adapter = JSON.parse(readFileSync(join(out, "adapter.json"), "utf8"));
  }
  const cpuAdapter = adapter !== undefined && isCpuAdapter(adapter);
  if (adapter === undefined) {
    say(
      "bench:gpu: no WebGPU adapter. On the device machine: unpack the Vulkan loader (.gpu-carry/*.deb with dpkg -x, then ldconfig) and check that an NVIDIA ICD json exists (VK_DRIVER_FILES); here: VK_ICD_FILENAMES=" +
        SWIFTSHADER,
    );
  } else if (cpuAdapter && !values.quick && !values["allow-cpu-adapter"]) {
    say(
      `bench:gpu: the adapter is a CPU one (${adapter.description || adapter.architecture}): a full run would take hours and measure no GPU. Use --quick, or --allow-cpu-adapter.`,
    );
    adapter = undefined;
  } else {
    const kernelsCap = Math.max(60, (deadline - Date.now()) / 3000);
    await stage(
      "kernels",
      [
        ...tsx,
        "packages/kernels-webgpu/bench/kernels.bench.ts",
        values.quick ? "--quick" : "--full",
        "--out",
        out,
      ],
      kernelsCap,
    );
    const scale = [
      "--shape",
      "llama-3.2-1b",
      "--layers",
      "1",
      "--methods",
      "wanda,sparsegpt",
      "--levels",
      "0.5",
      "--backend",
      "webgpu,native",
      ...(values.quick
        ? ["--nsamples", "4", "--seqlen", "64", "--width", JSON.stringify(QUICK_WIDTH), "--vocab", "4096"]
        : ["--nsamples", "32", "--seqlen", "512"]),
      ...(values.quick || values.eval
        ? ["--eval-method", "wanda@0.5", "--eval-windows", values.quick ? "2" : "16"]
        : []),
      "--out",
      join(out, "scale"),
    ];
    await stage("scale", [...tsx, "tools/bench-scale/main.ts", ...scale], (deadline - Date.now()) / 1000 - 5);
  }
  const totalS = (Date.now() - started) / 1000;
  say(`bench:gpu: done in ${totalS.toFixed(1)} s`);
  const log = await new Promise((r) => logFile.end(() => r(readFileSync(join(out, "log.txt"), "utf8"))));
  const summary = renderSummary({
    quick: values.quick,
    argv: process.argv.slice(2),
    date: new Date(started).toISOString(),
    totalS,
    machine,
    adapter,
    cpuAdapter,
    stages,
    kernels: readJson(join(out, values.quick ? "kernels-quick.json" : "kernels-full.json")),
    scale: readJson(join(out, "scale.json")),
    log,
  });
  writeFileSync(join(out, "summary.md"), summary);
  console.log(`wrote ${join(out, "summary.md")}`);
  process.exit(stages.every((s) => s.status === "ok") && adapter !== undefined ? 0 : 1);
}

function tryRun(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function readJson(p) {
  try {
    return JSON.parse(readFileSync(p, "utf8"));
  } catch {
    return undefined;
  }
}

const i = process.argv.indexOf("--probe");
if (i >= 0) await probeAdapter(process.argv[i + 1]);
else await main();
