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
// ≈ 15 s; kernels --full ≈ 1 min (96 weights of up to 4096² drawn in JS, 4 timed calls each; the
// GPU work itself ≈ 0.1 TFLOP, seconds); synth of the 1-layer 1B shape ≈ 15 s (262 M embedding
// values drawn in JS). One block's linears are 60.8 M weights: 2 × 60.8 M × 16 384 tokens ≈ 2 TFLOP
// per calibration forward (one dense, one pruned), ≈ 2–5 s on the GPU with the activations crossing
// PCIe, ≈ 8–15 s on native (onnxruntime at a few hundred GFLOP/s); attention (≈ 35 GFLOP causal) is
// per-head backend matmuls + a JS softmax on WebGPU (≈ 2–4 s). SparseGPT adds the Grams (≈ 1.3 TFLOP,
// 16 384 × 8192² for down_proj) and what stays in JavaScript whatever the backend: the float64
// Cholesky/inverse of the 8192² Hessian and the OBS sweep (≈ 15–30 s, ≈ 45 s on this 2-core machine).
// So ≈ 20–40 s per Wanda run and ≈ 40–80 s per SparseGPT run, ≈ 3 min for the four plus the children's
// start-up and checkpoint reads: ≈ 4–5 min in all, under the 9-min default deadline and the tool's
// 10-min command limit; --eval adds ≈ 1 min (the 128 256 × 2048 head on 8192 tokens is 4.3 TFLOP).
// --quick on SwiftShader here: ≈ 1 min.
//
// ON THE DEVICE MACHINE (no internet: `npm ci` cannot run there, and node_modules is ~830 MiB,
// far over the device tool's 64 MiB for working tree + carry):
//   1. here, once per checkout (after npm ci): `npm run bench:gpu:pack` → .gpu-carry/ (git-ignored,
//      ≈ 44 MiB: this Node binary, node_modules cut to what runs with Linux x86-64 binaries only, the
//      Vulkan loader deb; see pack.mjs); it prints carry + working tree against the 64 MiB;
//   2. ONE device `run` with carry [".gpu-carry"] and timeout_s 600, command:
//        bash tools/bench-gpu/device.sh $OUT/bench-gpu
//      (device.sh unpacks the loader with dpkg -x and ldconfig, Node into a mktemp -d folder, node_modules into the
//      tree, then runs this script; main.mjs sets VK_DRIVER_FILES to the NVIDIA Vulkan driver found
//      under /usr/local/nvidia or /usr/share/vulkan when no ICD is named; no build is needed — the
//      sources run through tsx). Add `--eval` after the folder for the eval rows (≈ +1 min);
//   3. the 7 files come back under files_at/bench-gpu/: copy them to results/bench-gpu/ and commit
//      them (summary.md is the table; the root README's "At scale" text points to it).
import { spawn, spawnSync } from "node:child_process";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
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
const ICD_DIRS = [...new Set(NVIDIA_ICDS.map((p) => dirname(p)))];
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
  // What the log and the children's command lines show: repo-relative inside the checkout (the children
  // run in ROOT), so committed logs carry no machine paths; absolute elsewhere (the device's $OUT).
  const rel = relative(resolve(ROOT), out);
  const shown = rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : out;
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
    // The Vulkan drivers installed where the loader (or VK_DRIVER_FILES) would look.
    icds: ICD_DIRS.flatMap((d) => {
      try {
        return readdirSync(d).map((f) => join(d, f));
      } catch {
        return [];
      }
    }),
    vulkanLoader: (tryRun("ldconfig", ["-p"]) ?? "")
      .split("\n")
      .filter((l) => /libvulkan\.so/.test(l))
      .map((l) => l.trim())
      .join("; "),
  };
  say(`bench:gpu ${values.quick ? "--quick " : ""}→ ${shown}`);
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
  if (await stage("adapter", [relative(ROOT, SELF), "--probe", join(shown, "adapter.json")], 90)) {
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
    stages.push({
      name: "kernels, scale",
      status: "refused: CPU adapter (--quick or --allow-cpu-adapter)",
      seconds: 0,
    });
  } else {
    const kernelsCap = Math.max(60, (deadline - Date.now()) / 3000);
    await stage(
      "kernels",
      [
        ...tsx,
        "packages/kernels-webgpu/bench/kernels.bench.ts",
        values.quick ? "--quick" : "--full",
        "--out",
        shown,
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
      join(shown, "scale"),
    ];
    if (
      !(await stage(
        "scale",
        [...tsx, "tools/bench-scale/main.ts", ...scale],
        (deadline - Date.now()) / 1000 - 5,
      ))
    ) {
      // A stopped bench:scale leaves its generated folders (it deletes them at its end): these names only.
      for (const d of ["bench-llama-3.2-1b-L1", "bench-out-wanda-0.5", "bench-out-sparsegpt-0.5"])
        rmSync(join(ROOT, "models", d), { recursive: true, force: true });
    }
  }
  if (cpuAdapter) {
    // The stages' own tables say so too, not only summary.md.
    for (const f of ["kernels-quick.md", "kernels-full.md", "scale.md"]) {
      const p = join(out, f);
      if (existsSync(p))
        writeFileSync(
          p,
          `> **CPU adapter (${adapter.description || adapter.architecture}): NOT GPU numbers.** Written by \`bench:gpu${values.quick ? " --quick" : ""}\` (see summary.md).\n\n${readFileSync(p, "utf8")}`,
        );
    }
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
  console.log(`wrote ${join(shown, "summary.md")}`);
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
