// `npm run bench:scale`: prune and evaluate realistic shapes streamed (one block resident), per stage,
// each run in its own child process (peak RSS = process.resourceUsage().maxRSS of that run alone).
//   npm run bench:scale -- [--shape llama-3.2-1b] [--layers N] [--methods wanda,sparsegpt] [--levels 0.5,2:4]
//     [--nsamples 32] [--seqlen 512] [--eval-windows 16] [--eval-method wanda] [--small] [--keep] [--out results/bench-scale]
//     [--mama-options '{"wide":{"solver":"sweep"}}'] (MAMA's methodOptions for its runs)
//     [--width '{"hidden_size":256,"intermediate_size":1024,"num_attention_heads":4,"num_key_value_heads":1}']
//     [--vocab 4096] (development: a narrowed model of the shape, e.g. a smoke run on a CPU WebGPU adapter;
//      the model column then says so and nothing is extrapolated from it)
//     [--backend wasm,native] (each prune/eval run once per backend, back to back; default: the CLI default;
//      one of auto, wasm, js, native, webgpu — webgpu is the CLI's: kernels-webgpu on a Dawn device, the
//      adapter recorded per run; every backend is created once in a probe child before the model is synthesized)
// Writes <out>.json and <out>.md. Generated models go under models/ and are deleted at the end (unless --keep).
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { type ComputeBackend, createRng, type Sparsity } from "@mama-prune/core";
import { perplexityStreaming, pruneToCheckpoint } from "@mama-prune/pipeline";
import { nodeGarbageCollector } from "@mama-prune/pipeline/node";
import {
  type ByteSink,
  type Checkpoint,
  type SafetensorsEntry,
  type WritableCheckpointDir,
  writeHfCheckpoint,
} from "@mama-prune/tensor-io";
import { createCheckpointDirWriter, openCheckpoint } from "@mama-prune/tensor-io/node";
import { synthesize } from "../synth/synth.ts";
import { createBenchBackend } from "./backends.ts";

const SELF = new URL(import.meta.url).pathname;
const now = (): number => performance.now();

// ---- Child: one measured run ----

interface OpStat {
  ms: number;
  flop: number;
  calls: number;
}
function timedBackend(b: ComputeBackend, ops: Record<string, OpStat>): ComputeBackend {
  const stat = (k: string): OpStat => (ops[k] ??= { ms: 0, flop: 0, calls: 0 });
  return new Proxy(b, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv);
      if (typeof v !== "function" || prop === "invalidate" || prop === "dispose") return v;
      const record = (t: number, args: unknown[]): void => {
        const s = stat(String(prop));
        s.ms += now() - t;
        s.calls++;
        if (prop === "matmulTransB")
          s.flop += 2 * (args[2] as number) * (args[3] as number) * (args[4] as number);
        // The flops done: the backends compute the upper triangle (diagonal included) and mirror it,
        // m·k(k+1)/2 multiply-adds, not the full product's m·k² (records before 2026-12-07 counted that).
        else if (prop === "gramAccumulate")
          s.flop += (args[1] as number) * (args[2] as number) * ((args[2] as number) + 1);
        else if (prop === "colSqNormAccumulate") s.flop += 2 * (args[1] as number) * (args[2] as number);
      };
      // The asynchronous ops are timed to their settling; a synchronous method (WebGPU's
      // registerSparseWeight, stats) stays synchronous, its return value untouched.
      return (...args: unknown[]) => {
        const t = now();
        const r: unknown = v.apply(target, args);
        if (r instanceof Promise)
          return r.then((value: unknown) => {
            record(t, args);
            return value;
          });
        record(t, args);
        return r;
      };
    },
  });
}
function timedCheckpoint(c: Checkpoint, t: { ms: number }): Checkpoint {
  const wrap =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const s = now();
      try {
        return await f(...a);
      } finally {
        t.ms += now() - s;
      }
    };
  return {
    ...c,
    source: c.source,
    config: c.config,
    format: c.format,
    list: () => c.list(),
    has: (n) => c.has(n),
    info: (n) => c.info(n),
    readRaw: wrap((n: string) => c.readRaw(n)),
    ...(c.readRawRange !== undefined
      ? { readRawRange: wrap((n: string, o: number, k: number) => c.readRawRange!(n, o, k)) }
      : {}),
    readF32: wrap((n: string) => c.readF32(n)),
    close: () => c.close(),
  };
}
function timedDir(d: WritableCheckpointDir, t: { ms: number }): WritableCheckpointDir {
  return {
    name: d.name,
    create: async (file: string): Promise<ByteSink> => {
      const sink = await d.create(file);
      return {
        write: async (chunk) => {
          const s = now();
          await sink.write(chunk);
          t.ms += now() - s;
        },
        close: () => sink.close(),
        abort: (r) => sink.abort(r),
      };
    },
    commit: () => d.commit(),
    abort: (r) => d.abort(r),
  };
}
async function gemmGflops(backend: ComputeBackend, m: number, k: number, n: number): Promise<number> {
  const rng = createRng(1);
  const x = Float32Array.from({ length: m * k }, () => rng.normal());
  const w = Float32Array.from({ length: n * k }, () => rng.normal());
  const out = new Float32Array(m * n);
  await backend.matmulTransB(x, w, m, k, n, { out }); // warm-up (packing)
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const t = now();
    await backend.matmulTransB(x, w, m, k, n, { out });
    best = Math.min(best, now() - t);
  }
  return (2 * m * k * n) / best / 1e6;
}
const parseLevel = (s: string): Sparsity => {
  const m = /^(\d+):(\d+)$/.exec(s);
  return m !== null ? { n: Number(m[1]), m: Number(m[2]) } : Number(s);
};

async function child(job: Record<string, string>): Promise<void> {
  const made = await createBenchBackend(job["backend"]);
  const backend0 = made.backend;
  if (job["kind"] === "probe") {
    // The backend can be created here (before any model is synthesized): its name and adapter.
    const out = {
      job,
      backend: backend0.name,
      ...(made.adapter !== undefined ? { adapter: made.adapter } : {}),
    };
    await made.dispose();
    process.stdout.write(`\n@@RESULT ${JSON.stringify(out)}\n`);
    return;
  }
  const ops: Record<string, OpStat> = {};
  const backend = timedBackend(backend0, ops);
  const gemm = await gemmGflops(backend0, 512, 2048, 2048);
  const t0 = now();
  const reads = { ms: 0 };
  const ckpt = timedCheckpoint(await openCheckpoint(job["model"]!), reads);
  const openMs = now() - t0;
  const cfg = ckpt.config as Record<string, number>;
  const V = cfg["vocab_size"]!;
  const out: Record<string, unknown> = {
    job,
    backend: backend0.name,
    ...(made.adapter !== undefined ? { adapter: made.adapter } : {}),
    gemmGflops: gemm,
    openMs,
    gramFlopCount: "upper-triangle",
  };
  if (job["kind"] === "prune") {
    const nsamples = Number(job["nsamples"]);
    const seqlen = Number(job["seqlen"]);
    const rng = createRng(7);
    const tokens = Int32Array.from({ length: nsamples * seqlen }, () => rng.int(V));
    const writes = { ms: 0 };
    const t = now();
    const cpu0 = process.cpuUsage(); // user + system time of every thread of this child (wasm workers too)
    const { report } = await pruneToCheckpoint(
      timedDir(await createCheckpointDirWriter(job["out"]!), writes),
      {
        checkpoint: ckpt,
        backend,
        method: job["method"] as "wanda",
        // MAMA's options of the run (--mama-options JSON), e.g. {"wide":{"solver":"sweep"}}.
        ...(job["method"] === "mama" && job["mamaOptions"] !== undefined
          ? { methodOptions: JSON.parse(job["mamaOptions"]) as Record<string, unknown> }
          : {}),
        sparsity: parseLevel(job["level"]!),
        calibration: { tokens, nsamples, seqlen },
        // As the CLI's prune: Node's gc() at the run's memory boundaries (nodeGarbageCollector).
        collectGarbage: nodeGarbageCollector(),
      },
    );
    const totalMs = now() - t;
    const cpu = process.cpuUsage(cpu0);
    const scoreMs = report.linears.reduce((a, l) => a + l.wallTimeMs, 0);
    const statsMs = (ops["gramAccumulate"]?.ms ?? 0) + (ops["colSqNormAccumulate"]?.ms ?? 0);
    Object.assign(out, {
      totalMs,
      // CPU time of the prune run (user + system, all threads): on a machine loaded by other work it
      // is far steadier than wall time, so cost ratios are taken on it too.
      cpuMs: (cpu.user + cpu.system) / 1000,
      loadMs: reads.ms,
      writeMs: writes.ms,
      statsMs,
      scoreMs,
      forwardMs: totalMs - reads.ms - writes.ms - statsMs - scoreMs,
      overallSparsity: report.overallSparsity,
      // Per linear: where the time went and which path/solver ran (MAMA's cost is per-linear).
      linears: report.linears.map((l) => ({
        name: l.name,
        shape: l.shape,
        ms: l.wallTimeMs,
        ...(l.mamaPath !== undefined ? { mamaPath: l.mamaPath } : {}),
        ...(l.refitSolver !== undefined ? { refitSolver: l.refitSolver } : {}),
        ...(l.denseTarget !== undefined ? { denseTarget: l.denseTarget } : {}),
      })),
      warnings: report.warnings,
    });
  } else {
    const seqlen = Number(job["seqlen"]);
    const n = Number(job["windows"]);
    const rng = createRng(9);
    const tokens = Int32Array.from({ length: n * seqlen }, () => rng.int(V));
    const r = await perplexityStreaming({ checkpoint: ckpt, tokens, seqlen, backend });
    Object.assign(out, { totalMs: r.timings.totalMs, loadMs: reads.ms, timings: r.timings, ppl: r.ppl });
  }
  out["ops"] = ops;
  if (made.stats !== undefined) out["backendStats"] = made.stats();
  out["maxRssMiB"] = process.resourceUsage().maxRSS / 1024;
  await ckpt.close();
  await made.dispose();
  process.stdout.write(`\n@@RESULT ${JSON.stringify(out)}\n`);
}

// ---- Parent ----

function runChild(job: Record<string, string>, quiet = false): Record<string, unknown> {
  const args = [
    "--conditions",
    "@mama-prune/source",
    "--import",
    "tsx",
    SELF,
    "--child",
    JSON.stringify(job),
  ];
  const text = execFileSync(process.execPath, args, {
    encoding: "utf8",
    maxBuffer: 64 << 20,
    // quiet: the child's stderr is kept (on the thrown error) instead of shown.
    ...(quiet ? { stdio: ["ignore", "pipe", "pipe"] as const } : {}),
  });
  const line = text.split("\n").find((l) => l.startsWith("@@RESULT "));
  if (line === undefined) throw new Error(`child produced no result: ${text.slice(-2000)}`);
  return JSON.parse(line.slice(9)) as Record<string, unknown>;
}

/** Create `--backend b` once in a child; on failure, exit 2 with the child's error message (one line). */
function probeBackend(b: string): Record<string, unknown> {
  try {
    return runChild({ kind: "probe", backend: b }, true);
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? "");
    // The thrown error's own line (PruneError [CODE]: … or Error: …), else the tail of what the child said.
    const line =
      stderr
        .split("\n")
        .find((l) => /^\s*(PruneError|Error|\w+Error)\b.*:/.test(l))
        ?.trim() ?? stderr.trim().split("\n").slice(-3).join(" ");
    console.error(`bench:scale: --backend ${b} cannot be created here: ${line}`);
    process.exit(2);
  }
}

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: {
      shape: { type: "string", default: "llama-3.2-1b" },
      layers: { type: "string" },
      methods: { type: "string", default: "magnitude,wanda,sparsegpt,mama" },
      levels: { type: "string", default: "0.5,2:4" },
      nsamples: { type: "string", default: "32" },
      seqlen: { type: "string", default: "512" },
      "eval-windows": { type: "string", default: "16" },
      "eval-method": { type: "string", default: "" },
      "mama-options": { type: "string" },
      width: { type: "string" },
      vocab: { type: "string" },
      backend: { type: "string" },
      small: { type: "string", default: "" },
      keep: { type: "boolean", default: false },
      mid: { type: "boolean", default: false },
      append: { type: "boolean", default: false },
      render: { type: "boolean", default: false },
      out: { type: "string", default: "results/bench-scale" },
    },
  });
  if (values.render) {
    const data = JSON.parse(await readFile(`${values.out}.json`, "utf8")) as BenchFile;
    await writeFile(`${values.out}.md`, renderMarkdown(data) + (await notes(values.out)));
    console.log(`wrote ${values.out}.md`);
    return;
  }
  const startedLoad = loadavg();
  // Every finished run is also written to <out>.partial.json at once, so a crash or a stopped
  // session keeps what was measured; the final write removes it.
  const runs: Record<string, unknown>[] = [];
  const partial = `${values.out}.partial.json`;
  const record = (run: Record<string, unknown>): void => {
    runs.push(run);
    mkdirSync(dirname(partial), { recursive: true });
    writeFileSync(partial, `${JSON.stringify({ args: process.argv.slice(2), runs }, null, 2)}\n`);
  };
  const say = (s: string): void => console.log(s);
  await mkdir("models", { recursive: true });
  // --backend a,b: every prune/eval run (small and mid included) once per backend; absent: the CLI default (no backend in the job).
  const backends: (string | undefined)[] =
    values.backend === undefined ? [undefined] : values.backend.split(",").filter((s) => s !== "");
  const on = (b: string | undefined): string => (b === undefined ? "" : ` on ${b}`);
  // Every named backend is created once before any model is written: a missing GPU or package
  // fails here, in seconds, with the backend's own message (the child's stderr).
  for (const b of backends) {
    if (b === undefined) continue;
    const p = probeBackend(b);
    say(
      `▶ backend ${b}: ${String(p["backend"])}${p["adapter"] !== undefined ? ` — adapter ${JSON.stringify(p["adapter"])}` : ""}`,
    );
  }
  // Small comparisons of the issue (stories260K, 128 × 512 calibration), pruning only.
  for (const m of values.small.split(",").filter((s) => s !== "")) {
    for (const b of backends) {
      say(`▶ stories260K ${m} 0.5, 128 × 512${on(b)}`);
      const o = join("models", `bench-small-${m}`);
      await rm(o, { recursive: true, force: true });
      const r = runChild({
        kind: "prune",
        model: "data/stories260K/stories260K.bin",
        method: m,
        level: "0.5",
        nsamples: "128",
        seqlen: "512",
        out: o,
        ...(b !== undefined ? { backend: b } : {}),
      });
      record({ model: "stories260K", ...r });
      await rm(o, { recursive: true, force: true });
      say(JSON.stringify(r));
    }
  }
  // The issue's mid-size comparison: a 4-block Llama, hidden 1024, MLP 2816 (vocab 32000, f32), Wanda 32 × 512.
  if (values.mid) {
    const mid = join("models", "bench-mid-1024-2816");
    await rm(mid, { recursive: true, force: true });
    await writeMidModel(mid);
    try {
      for (const b of backends) {
        const m = "wanda";
        const o = join("models", `bench-mid-out-${m}`);
        say(`▶ mid (4 × 1024/2816) ${m} 0.5, 32 × 512${on(b)}`);
        const r = runChild({
          kind: "prune",
          model: mid,
          method: m,
          level: "0.5",
          nsamples: "32",
          seqlen: "512",
          out: o,
          ...(b !== undefined ? { backend: b } : {}),
        });
        record({ model: "llama-4x1024x2816", ...r });
        await rm(o, { recursive: true, force: true });
        say(JSON.stringify(r));
      }
    } finally {
      await rm(mid, { recursive: true, force: true });
    }
  }
  const model = join(
    "models",
    `bench-${values.shape}${values.layers !== undefined ? `-L${values.layers}` : ""}`,
  );
  const methods = values.methods.split(",").filter((s) => s !== "");
  // A narrowed model (--width / --vocab) is labelled as such: not the shape, never extrapolated.
  const width = values.width === undefined ? undefined : (JSON.parse(values.width) as Record<string, number>);
  const narrowed = [
    ...Object.entries(width ?? {}).map(([k, v]) => `${k} ${v}`),
    ...(values.vocab !== undefined ? [`vocab_size ${values.vocab}`] : []),
  ];
  const label = narrowed.length === 0 ? values.shape : `${values.shape} narrowed (${narrowed.join(", ")})`;
  if (methods.length > 0) {
    await rm(model, { recursive: true, force: true });
    say(`▶ synth ${label} ${values.layers ?? "full"} layers bf16 → ${model}`);
    const t = now();
    await synthesize({
      shape: values.shape as "llama-3.2-1b",
      out: model,
      ...(values.layers !== undefined ? { layers: Number(values.layers) } : {}),
      ...(width !== undefined ? { width } : {}),
      ...(values.vocab !== undefined ? { vocab: Number(values.vocab) } : {}),
    });
    say(`  ${((now() - t) / 1000).toFixed(1)} s`);
  }
  try {
    for (const m of methods) {
      for (const level of values.levels.split(",")) {
        // One run per backend, back to back (same model, level and calibration): comparable under load.
        for (const b of backends) {
          const be = b === undefined ? {} : { backend: b };
          const o = join("models", `bench-out-${m}-${level.replace(":", "of")}`);
          await rm(o, { recursive: true, force: true });
          say(`▶ prune ${m} ${level}${b === undefined ? "" : ` on ${b}`}`);
          const r = runChild({
            kind: "prune",
            model,
            method: m,
            level,
            nsamples: values.nsamples,
            seqlen: values.seqlen,
            out: o,
            ...be,
            ...(m === "mama" && values["mama-options"] !== undefined
              ? { mamaOptions: values["mama-options"] }
              : {}),
          });
          record({ model: label, layers: values.layers ?? "full", ...r });
          say(JSON.stringify(r));
          if (values["eval-method"] === `${m}@${level}`) {
            say(`▶ eval ${o}`);
            const e = runChild({
              kind: "eval",
              model: o,
              seqlen: values.seqlen,
              windows: values["eval-windows"],
              ...be,
            });
            record({
              model: label,
              layers: values.layers ?? "full",
              evalOf: `${m}@${level}`,
              ...e,
            });
            say(JSON.stringify(e));
          }
          await rm(o, { recursive: true, force: true });
        }
      }
    }
  } finally {
    if (!values.keep) await rm(model, { recursive: true, force: true });
  }
  const meta: BenchMeta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
    loadavgAtStart: startedLoad,
    loadavgAtEnd: loadavg(),
    args: process.argv.slice(2),
  };
  let file: BenchFile = { invocations: [{ meta, runs }] };
  if (values.append) {
    const old = await readFile(`${values.out}.json`, "utf8").catch(() => undefined);
    if (old !== undefined) {
      const prev = JSON.parse(old) as BenchFile;
      file = { invocations: [...prev.invocations, { meta, runs }] };
    }
  }
  await mkdir(dirname(values.out), { recursive: true });
  await writeFile(`${values.out}.json`, `${JSON.stringify(file, null, 2)}\n`);
  await writeFile(`${values.out}.md`, renderMarkdown(file) + (await notes(values.out)));
  await rm(partial, { force: true });
  say(`wrote ${values.out}.json and .md`);
}

// ---- The mid-size model (no synth shape): written here with seeded N(0, 0.02²) weights ----

async function writeMidModel(dir: string): Promise<void> {
  const H = 1024;
  const I = 2816;
  const L = 4;
  const V = 32000;
  const rng = createRng(11);
  const tensors: SafetensorsEntry[] = [];
  const add = (name: string, shape: number[], ones = false): void => {
    tensors.push({
      name,
      dtype: "F32",
      shape,
      data: () =>
        Float32Array.from({ length: shape[0]! * (shape[1] ?? 1) }, () => (ones ? 1 : 0.02 * rng.normal())),
    });
  };
  add("model.embed_tokens.weight", [V, H]);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    add(`${p}input_layernorm.weight`, [H], true);
    for (const n of ["q", "k", "v", "o"]) add(`${p}self_attn.${n}_proj.weight`, [H, H]);
    add(`${p}post_attention_layernorm.weight`, [H], true);
    add(`${p}mlp.gate_proj.weight`, [I, H]);
    add(`${p}mlp.up_proj.weight`, [I, H]);
    add(`${p}mlp.down_proj.weight`, [H, I]);
  }
  add("model.norm.weight", [H], true);
  add("lm_head.weight", [V, H]);
  await writeHfCheckpoint(await createCheckpointDirWriter(dir), {
    config: {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: H,
      intermediate_size: I,
      num_hidden_layers: L,
      num_attention_heads: 16,
      num_key_value_heads: 16,
      vocab_size: V,
      max_position_embeddings: 2048,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      hidden_act: "silu",
      tie_word_embeddings: false,
      torch_dtype: "float32",
    },
    tensors,
  });
}

// ---- Markdown ----

/** Hand-written conclusions kept beside the data (`<out>.notes.md`), appended to the rendered tables. */
async function notes(out: string): Promise<string> {
  const text = await readFile(`${out}.notes.md`, "utf8").catch(() => "");
  return text === "" ? "" : `\n${text}`;
}

interface BenchMeta {
  date: string;
  node: string;
  cpus: string;
  loadavgAtStart: number[];
  loadavgAtEnd: number[];
  args: string[];
}
interface BenchFile {
  invocations: { meta: BenchMeta; runs: Record<string, unknown>[] }[];
}
type Run = Record<string, unknown> & { job: Record<string, string>; ops?: Record<string, OpStat> };

const sec = (ms: unknown): string => (typeof ms === "number" ? (ms / 1000).toFixed(1) : "–");
const gf = (o: OpStat | undefined): string =>
  o === undefined || o.ms === 0 ? "–" : (o.flop / o.ms / 1e6).toFixed(1);
/**
 * The Gram's rate in flops done (upper triangle). Records without `gramFlopCount` counted the full
 * product 2·m·k²: halved here (exact to 1/(2k), < 0.1 % for the widths measured).
 */
const gramGf = (r: Run): string => {
  const o = r.ops?.["gramAccumulate"];
  if (o === undefined || o.ms === 0) return "–";
  return ((o.flop * (r["gramFlopCount"] === "upper-triangle" ? 1 : 0.5)) / o.ms / 1e6).toFixed(1);
};
/**
 * The backend work of a run in flops: every recorded op's flops (matmulTransB, including the blocked
 * factorisation's and the lazy updates' GEMMs; the Gram in flops done, halved for records that
 * counted the full product). NaN without op records.
 */
const backendFlop = (r: Run | undefined): number => {
  if (r?.ops === undefined) return Number.NaN;
  let total = 0;
  for (const [name, o] of Object.entries(r.ops)) {
    total += name === "gramAccumulate" && r["gramFlopCount"] !== "upper-triangle" ? o.flop / 2 : o.flop;
  }
  return total;
};
const tflop = (r: Run | undefined): string => {
  const f = backendFlop(r);
  return Number.isFinite(f) ? (f / 1e12).toFixed(2) : "–";
};
const gib = (mib: unknown): string => (typeof mib === "number" ? (mib / 1024).toFixed(2) : "–");

function renderMarkdown(f: BenchFile): string {
  const out: string[] = ["# bench:scale — streamed prune and eval at realistic shapes", ""];
  // A backend column where a run named its backend (--backend) or ran on something other than plain wasm
  // (auto takes compute-native where onnxruntime-node is installed); older files render as before.
  const namedRun = (r: Run): boolean =>
    r.job.backend !== undefined || (typeof r["backend"] === "string" && !/^wasm-simd/.test(r["backend"]));
  const anyNamed = f.invocations.some((inv) => inv.runs.some((r) => namedRun(r as Run)));
  out.push(
    "Regenerate: `npm run bench:scale -- <subset>` (see tools/bench-scale/main.ts; `--append` accumulates invocations, `--render` rewrites this file from the JSON). Every run is a child process: peak RSS = its `process.resourceUsage().maxRSS`. Backend: the CLI default (wasm SIMD, 2 threads; since compute-native became auto's first choice, onnxruntime + wasm where onnxruntime-node is installed, named in the backend column)" +
      (anyNamed
        ? ", or the one in the backend column (`--backend`; CPU = user + system seconds of the prune run, all threads)"
        : "") +
      ". GEMM GFLOP/s: the backend's `matmulTransB` on 512 × 2048 × 2048, best of 3, measured at the start of the same child. Stage times: load = time inside checkpoint reads; statistics = time in `gramAccumulate`/`colSqNormAccumulate`; scoring/OBS/refit = Σ of the report's per-linear times; writing = time inside the output sink's writes; forward = the rest (calibration forward of the dense and pruned blocks, attention, norms). matmul GFLOP/s = all `matmulTransB` FLOPs of the run / their time. gram GFLOP/s = the flops `gramAccumulate` does (the upper triangle, m·k·(k+1) per call; runs recorded before 2026-12-07 counted the full product 2·m·k² and are shown halved) / its time.",
    "",
  );
  for (const inv of f.invocations) {
    const m = inv.meta;
    out.push(
      `## ${m.date} — \`${m.args.join(" ")}\``,
      "",
      `${m.cpus}, Node ${m.node}; load average at start ${m.loadavgAtStart.map((x) => x.toFixed(2)).join(" / ")}, at end ${m.loadavgAtEnd.map((x) => x.toFixed(2)).join(" / ")} (1/5/15 min): the machine is shared and was loaded by other work, so times are indicative and slower than on a quiet machine.`,
      "",
    );
    const prunes = inv.runs.filter((r) => (r as Run).job.kind === "prune") as Run[];
    // A backend column only for invocations with --backend (older files render as before).
    const named = inv.runs.some((r) => namedRun(r as Run));
    const bcol = (r: Run): string => (named ? ` ${String(r["backend"])} |` : "");
    if (prunes.length > 0) {
      const cols = [
        "model",
        "layers",
        "method",
        "level",
        ...(named ? ["backend"] : []),
        "calibration",
        "total (s)",
        ...(named ? ["CPU (s)"] : []),
        "load",
        "forward",
        "statistics",
        "scoring/OBS/refit",
        "writing",
        "matmul GFLOP/s",
        "gram GFLOP/s (done: upper triangle)",
        "GEMM GFLOP/s (same run)",
        "peak RSS (GiB)",
      ];
      const left = new Set(["model", "method", "level", "backend", "calibration"]);
      out.push(`| ${cols.join(" | ")} |`, `|${cols.map((c) => (left.has(c) ? "---" : "---:")).join("|")}|`);
      for (const r of prunes) {
        out.push(
          `| ${r["model"]} | ${r["layers"] ?? "all"} | ${r.job.method} | ${r.job.level} |${bcol(r)} ${r.job.nsamples} × ${r.job.seqlen} | ${sec(r["totalMs"])} |${named ? ` ${sec(r["cpuMs"])} |` : ""} ${sec(r["loadMs"])} | ${sec(r["forwardMs"])} | ${sec(r["statsMs"])} | ${sec(r["scoreMs"])} | ${sec(r["writeMs"])} | ${gf(r.ops?.["matmulTransB"])} | ${gramGf(r)} | ${(r["gemmGflops"] as number).toFixed(1)} | ${gib(r["maxRssMiB"])} |`,
        );
      }
      out.push("");
      out.push(...sparsegptRatios(prunes));
      out.push(...mamaRatios(prunes));
      if (named) out.push(...backendRatios(prunes));
    }
    const evals = inv.runs.filter((r) => (r as Run).job.kind === "eval") as Run[];
    if (evals.length > 0) {
      out.push(
        `| eval of | layers |${named ? " backend |" : ""} windows | embed (s) | blocks (s) | per block (s) | head (s) | total (s) | matmul GFLOP/s | GEMM GFLOP/s | peak RSS (GiB) |`,
        `|---|---:|${named ? "---|" : ""}---|---:|---:|---:|---:|---:|---:|---:|---:|`,
      );
      for (const r of evals) {
        const t = r["timings"] as {
          embedMs: number;
          blocksMs: number;
          blockMs: number[];
          headMs: number;
          totalMs: number;
        };
        out.push(
          `| ${r["evalOf"]} (${r["model"]}) | ${r["layers"]} |${bcol(r)} ${r.job.windows} × ${r.job.seqlen} | ${sec(t.embedMs)} | ${sec(t.blocksMs)} | ${t.blockMs.map((b) => sec(b)).join(", ")} | ${sec(t.headMs)} | ${sec(t.totalMs)} | ${gf(r.ops?.["matmulTransB"])} | ${(r["gemmGflops"] as number).toFixed(1)} | ${gib(r["maxRssMiB"])} |`,
        );
      }
      out.push("");
    }
  }
  out.push(...extrapolation(f));
  return `${out.join("\n")}\n`;
}

/**
 * MAMA's cost against SparseGPT and Wanda from the SAME invocation (same model, level, calibration),
 * and where MAMA's per-linear time went (path and refit solver named by the report).
 */
/** SparseGPT against Wanda in one invocation (issue 12's "within 2× of Wanda" target). */
function sparsegptRatios(prunes: Run[]): string[] {
  const key = (r: Run): string =>
    `${r["model"]}|${r["layers"] ?? ""}|${r.job.level}|${r.job.nsamples}|${r.job.seqlen}`;
  const pairs = prunes
    .filter((r) => r.job.method === "sparsegpt")
    .map((sg) => [sg, prunes.find((r) => r.job.method === "wanda" && key(r) === key(sg))] as const)
    .filter((p): p is readonly [Run, Run] => p[1] !== undefined);
  if (pairs.length === 0) return [];
  const ratio = (a: unknown, b: unknown): string =>
    typeof a === "number" && typeof b === "number" && b > 0 ? `${(a / b).toFixed(2)}×` : "–";
  return [
    "SparseGPT against Wanda in this invocation (CPU = user + system time of the prune run, all threads; backend TFLOP = the flops of every backend op the run called, GEMMs and the Gram's upper triangle: the floor the wall ratio cannot go below while both run at the same rate):",
    "",
    "| model | level | SparseGPT total (s) | Wanda total (s) | wall ratio | SparseGPT CPU (s) | Wanda CPU (s) | CPU ratio | SparseGPT backend TFLOP | Wanda backend TFLOP | flop ratio |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...pairs.map(
      ([sg, wa]) =>
        `| ${sg["model"]} | ${sg.job.level} | ${sec(sg["totalMs"])} | ${sec(wa["totalMs"])} | ${ratio(sg["totalMs"], wa["totalMs"])} | ${sec(sg["cpuMs"])} | ${sec(wa["cpuMs"])} | ${ratio(sg["cpuMs"], wa["cpuMs"])} | ${tflop(sg)} | ${tflop(wa)} | ${ratio(backendFlop(sg), backendFlop(wa))} |`,
    ),
    "",
  ];
}

function mamaRatios(prunes: Run[]): string[] {
  const out: string[] = [];
  const key = (r: Run): string =>
    `${r["model"]}|${r["layers"] ?? ""}|${r.job.level}|${r.job.nsamples}|${r.job.seqlen}`;
  const mamas = prunes.filter((r) => r.job.method === "mama");
  if (mamas.length === 0) return out;
  const ms = (r: Run | undefined, k: string): number => (r === undefined ? Number.NaN : (r[k] as number));
  const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : "–");
  out.push(
    "MAMA against SparseGPT and Wanda in this invocation (total = the whole prune run; scoring/OBS/refit = the per-linear stage; CPU = user + system time of the prune run, all threads, where recorded):",
    "",
    "| model | level | MAMA total (s) | MAMA / SparseGPT total | MAMA / Wanda total | MAMA / SparseGPT scoring/OBS/refit | MAMA − SparseGPT (s) | MAMA CPU (s) | MAMA / SparseGPT CPU | MAMA / Wanda CPU | MAMA backend TFLOP | MAMA / Wanda flops |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const m of mamas) {
    const sg = prunes.find((r) => r.job.method === "sparsegpt" && key(r) === key(m));
    const wa = prunes.find((r) => r.job.method === "wanda" && key(r) === key(m));
    out.push(
      `| ${m["model"]} | ${m.job.level} | ${sec(m["totalMs"])} | ${ratio(ms(m, "totalMs"), ms(sg, "totalMs"))} | ${ratio(ms(m, "totalMs"), ms(wa, "totalMs"))} | ${ratio(ms(m, "scoreMs"), ms(sg, "scoreMs"))} | ${sg === undefined ? "–" : sec(ms(m, "totalMs") - ms(sg, "totalMs"))} | ${m["cpuMs"] === undefined ? "–" : sec(m["cpuMs"])} | ${ratio(ms(m, "cpuMs"), ms(sg, "cpuMs"))} | ${ratio(ms(m, "cpuMs"), ms(wa, "cpuMs"))} | ${tflop(m)} | ${ratio(backendFlop(m), backendFlop(wa))} |`,
    );
  }
  out.push("");
  const withLinears = mamas.filter((m) => Array.isArray(m["linears"]));
  if (withLinears.length > 0) {
    out.push(
      "MAMA per linear (s; the path and refit solver each linear's report names; \"(product)\": MAMA's dense target from the product statistic):",
      "",
      "| level | linear | shape | path | refit solver | MAMA (s) | SparseGPT (s) |",
      "|---|---|---|---|---|---:|---:|",
    );
    for (const m of withLinears) {
      const sg = prunes.find((r) => r.job.method === "sparsegpt" && key(r) === key(m));
      const sgl = (sg?.["linears"] ?? []) as { name: string; ms: number }[];
      for (const l of m["linears"] as {
        name: string;
        shape: number[];
        ms: number;
        mamaPath?: string;
        refitSolver?: string;
        denseTarget?: string;
      }[]) {
        const s = sgl.find((x) => x.name === l.name);
        // The dense target's statistic when it is the product (the cross-Gram is the default).
        const path = `${l.mamaPath ?? "–"}${l.denseTarget === "product" ? " (product)" : ""}`;
        out.push(
          `| ${m.job.level} | ${l.name.split(".").slice(-2, -1)[0]} | ${l.shape.join(" × ")} | ${path} | ${l.refitSolver ?? "–"} | ${sec(l.ms)} | ${s === undefined ? "–" : sec(s.ms)} |`,
        );
      }
    }
    out.push("");
  }
  return out;
}

/**
 * Every backend against the first one of the invocation (same model, method, level, calibration):
 * wall, CPU, matmul and GEMM GFLOP/s, peak RSS.
 */
function backendRatios(prunes: Run[]): string[] {
  const key = (r: Run): string =>
    `${r["model"]}|${r["layers"] ?? ""}|${r.job.method}|${r.job.level}|${r.job.nsamples}|${r.job.seqlen}`;
  const first = prunes[0]?.job.backend;
  const num = (r: Run, k: string): number => r[k] as number;
  const x = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : "–");
  const rows: string[] = [];
  for (const r of prunes) {
    if (r.job.backend === first) continue;
    const base = prunes.find((b) => b.job.backend === first && key(b) === key(r));
    if (base === undefined) continue;
    const g = (o: OpStat | undefined): number => (o === undefined || o.ms === 0 ? Number.NaN : o.flop / o.ms);
    rows.push(
      `| ${r.job.method} | ${r.job.level} | ${r.job.backend} / ${first} | ${x(num(r, "totalMs"), num(base, "totalMs"))} | ${x(num(r, "cpuMs"), num(base, "cpuMs"))} | ${x(g(r.ops?.["matmulTransB"]), g(base.ops?.["matmulTransB"]))} | ${x(num(r, "gemmGflops"), num(base, "gemmGflops"))} | ${x(num(r, "maxRssMiB"), num(base, "maxRssMiB"))} |`,
    );
  }
  if (rows.length === 0) return [];
  return [
    "Backends against each other in this invocation (same model, method, level and calibration; < 1× = less time / fewer GFLOP/s / less memory):",
    "",
    "| method | level | backends | wall | CPU | matmul GFLOP/s | GEMM GFLOP/s | peak RSS |",
    "|---|---|---|---:|---:|---:|---:|---:|",
    ...rows,
    "",
  ];
}

const FULL_DEPTH: Readonly<Record<string, number>> = {
  "llama-3.2-1b": 16,
  "qwen2.5-0.5b": 24,
  "llama-2-7b": 32,
};

/** Full-depth estimates from runs on a cut depth: time scales with the blocks, peak RSS does not. */
function extrapolation(f: BenchFile): string[] {
  const rows: string[] = [];
  for (const inv of f.invocations) {
    for (const r of inv.runs as Run[]) {
      const full = FULL_DEPTH[String(r["model"])];
      const layers = Number(r["layers"]);
      if (full === undefined || !Number.isInteger(layers) || layers >= full) continue;
      if (r.job.kind === "prune") {
        const perBlock = (r["totalMs"] as number) / layers;
        rows.push(
          `| prune ${r["model"]} ${r.job.method} ${r.job.level}${r.job.backend === undefined ? "" : ` (${r.job.backend})`}, ${r.job.nsamples} × ${r.job.seqlen} | ${layers} | ${sec(perBlock)} | ${((full * perBlock) / 60000).toFixed(1)} min | ${gib(r["maxRssMiB"])} |`,
        );
      } else {
        const t = r["timings"] as { embedMs: number; blocksMs: number; headMs: number };
        const perBlock = t.blocksMs / layers;
        rows.push(
          `| eval ${r["evalOf"]} (${r["model"]}), ${r.job.windows} × ${r.job.seqlen} | ${layers} | ${sec(perBlock)} | ${((t.embedMs + full * perBlock + t.headMs) / 60000).toFixed(1)} min | ${gib(r["maxRssMiB"])} |`,
        );
      }
    }
  }
  if (rows.length === 0) return [];
  return [
    "## Full depth, extrapolated (not measured)",
    "",
    "Wall time × (full depth / measured depth) for pruning (the embedding read and the writing of the non-block tensors are counted once per measured run, so this slightly overestimates), and embed + full depth × per-block time + head for evaluation. Peak RSS is the measured value: streaming holds one block, so it does not grow with depth.",
    "",
    "| run | measured layers | per block (s) | full depth (extrapolated) | peak RSS (GiB, measured) |",
    "|---|---:|---:|---:|---:|",
    ...rows,
    "",
  ];
}

const i = process.argv.indexOf("--child");
if (i >= 0) await child(JSON.parse(process.argv[i + 1]!) as Record<string, string>);
else await parent();
