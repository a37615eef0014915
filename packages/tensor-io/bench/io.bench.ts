// I/O benchmark of the safetensors reader and writer against a plain sequential fs read.
//
//   npm run bench -w @mama-prune/tensor-io                  # ~1 GiB file
//   npm run bench -w @mama-prune/tensor-io -- --size-mib 64 # CI-size smoke run (also: --quick, or MAMA_BENCH_SIZE_MIB)
//
// Writes bench-results/io.json and io.md next to package.json; deletes its temp files at the end.
// The file is read right after being written, so all reads come from the page cache: the ratios
// compare our code paths against the best the OS can do, not disk speed.

import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRng } from "@mama-prune/core";
import { bytesToF32, bytesToF32Into, f32ToBytes, f32ToBytesInto } from "../src/dtype.ts";
import { readSafetensorsFile, writeSafetensorsFile } from "../src/node/safetensors-file.ts";
import type { SafetensorsEntry } from "../src/safetensors.ts";

const MiB = 1024 * 1024;
const here = dirname(fileURLToPath(import.meta.url));
const now = (): number => performance.now();

function argValue(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// ---- Memory probe (runs in a child process so other phases' garbage does not blur it) ----

// Highest RSS and arrayBuffers seen: sampled every millisecond while I/O is awaited, and on demand.
function peakSampler(): { sample(): void; stop(): number; peakArrayBuffers(): number } {
  let peak = 0;
  let peakAb = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    peak = Math.max(peak, m.rss);
    peakAb = Math.max(peakAb, m.arrayBuffers);
  };
  sample();
  const timer = setInterval(sample, 1);
  return {
    sample,
    stop(): number {
      clearInterval(timer);
      sample();
      return peak;
    },
    peakArrayBuffers: (): number => peakAb,
  };
}

async function probe(path: string, name: string, mode: "raw" | "f32"): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("probe needs --expose-gc");
  const st = await readSafetensorsFile(path);
  gc();
  const before = process.memoryUsage();
  const sampler = peakSampler();
  const t = mode === "raw" ? await st.readRaw(name) : await st.readF32(name);
  const peak = process.memoryUsage();
  const peakRss = sampler.stop();
  gc();
  const after = process.memoryUsage();
  await st.close();
  process.stdout.write(
    JSON.stringify({
      tensorBytes: st.info(name).byteLength,
      resultBytes: t.byteLength,
      rssGrowth: peak.rss - before.rss,
      peakRssGrowth: peakRss - before.rss,
      arrayBuffersGrowth: peak.arrayBuffers - before.arrayBuffers,
      rssGrowthAfterGc: after.rss - before.rss,
      arrayBuffersGrowthAfterGc: after.arrayBuffers - before.arrayBuffers,
    }),
  );
}

// Peak memory of writing `count` lazily generated tensors of `tensorBytes` each (alternately stored
// as F32 and converted to BF16): the writer should hold about one tensor at a time.
async function writeProbe(path: string, count: number, tensorBytes: number, forceGc: boolean): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("probe needs --expose-gc");
  gc();
  const beforeMem = process.memoryUsage();
  const before = beforeMem.rss;
  const sampler = peakSampler();
  const numel = tensorBytes / 4;
  const entries: SafetensorsEntry[] = Array.from({ length: count }, (_, i) => ({
    name: `layer.${i}.weight`,
    dtype: i % 2 === 0 ? "F32" : "BF16",
    shape: [numel],
    data: () => {
      if (forceGc) gc(); // shows what the writer itself retains, without V8's collection lag
      const v = new Float32Array(numel).fill(i); // (numel,) fresh each call, like a pipeline's output
      sampler.sample();
      return v;
    },
  }));
  const written = await writeSafetensorsFile(path, entries);
  const peakRss = sampler.stop();
  process.stdout.write(
    JSON.stringify({
      written,
      tensorBytes,
      count,
      peakRssGrowth: peakRss - before,
      peakArrayBuffersGrowth: sampler.peakArrayBuffers() - beforeMem.arrayBuffers,
    }),
  );
}

// ---- Main benchmark ----

interface Phase {
  readonly name: string;
  readonly bytes: number;
  readonly seconds: number;
  readonly mbPerS: number;
  readonly ratioToRawRead?: number;
  readonly ratioToFreshBufferRead?: number;
  readonly ratioToRawWrite?: number;
}

interface Timed {
  seconds: number;
  bytes: number;
  readonly run: () => Promise<number>;
}

// Phases run interleaved, one of each per round, and keep their best round: load from other
// processes then hits every phase alike instead of whichever phase ran during a busy stretch.
function scheduler(): { timed(run: () => Promise<number>): Timed; rounds(n: number): Promise<void> } {
  const all: Timed[] = [];
  return {
    timed(run: () => Promise<number>): Timed {
      const t: Timed = { seconds: Number.POSITIVE_INFINITY, bytes: 0, run };
      all.push(t);
      return t;
    },
    async rounds(n: number): Promise<void> {
      for (let r = 0; r < n; r++) {
        for (const t of all) {
          const t0 = now();
          t.bytes = await t.run();
          t.seconds = Math.min(t.seconds, (now() - t0) / 1000);
        }
      }
    },
  };
}

async function main(): Promise<void> {
  const sizeArg = argValue("--size-mib") ?? process.env["MAMA_BENCH_SIZE_MIB"];
  const sizeMiB = process.argv.includes("--quick") ? 64 : sizeArg !== undefined ? Number(sizeArg) : 1024;
  if (!(sizeMiB >= 16)) throw new Error(`--size-mib must be a number >= 16, got ${sizeArg}`);
  const reps = Number(argValue("--reps") ?? 4);

  // Layout: one large F32 tensor (1/4 of the file, for the memory probe), then alternating 4 MiB
  // F32 [1024, 1024] and BF16 [2048, 1024] tensors, like the linears of a transformer block.
  const bigRows = Math.max(1, Math.floor((sizeMiB * MiB) / 4 / 4 / 4096)); // F32 rows of 4096
  const rng = createRng(1);
  const f32Pattern = Float32Array.from({ length: 1024 * 1024 }, () => rng.normal() * 0.02); // (1024, 1024)
  const bf16Pattern = f32ToBytes(
    Float32Array.from({ length: 2048 * 1024 }, () => rng.normal() * 0.02),
    "BF16",
  ); // (2048, 1024) bf16 bytes
  const bigPattern = new Float32Array(bigRows * 4096).fill(0.5); // (bigRows, 4096)
  const entries: SafetensorsEntry[] = [
    { name: "model.embed_tokens.weight", dtype: "F32", shape: [bigRows, 4096], data: () => bigPattern },
  ];
  let planned = bigRows * 4096 * 4;
  for (let i = 0; planned < sizeMiB * MiB; i++) {
    const isF32 = i % 2 === 0;
    entries.push(
      isF32
        ? {
            name: `model.layers.${i >> 1}.self_attn.q_proj.weight`,
            dtype: "F32",
            shape: [1024, 1024],
            data: () => f32Pattern,
          }
        : {
            name: `model.layers.${i >> 1}.mlp.up_proj.weight`,
            dtype: "BF16",
            shape: [2048, 1024],
            data: () => bf16Pattern,
          },
    );
    planned += 4 * MiB;
  }

  const dir = await mkdtemp(join(tmpdir(), "mama-prune-io-bench-"));
  const path = join(dir, "bench.safetensors");
  try {
    const sched = scheduler();
    // An untimed first write, so the file exists while the phases below are set up.
    let fileBytes = await writeSafetensorsFile(path, entries, { metadata: { format: "pt" } });
    // Write through the atomic sink (includes fsync and rename).
    const write = sched.timed(async () => {
      await rm(path, { force: true });
      fileBytes = await writeSafetensorsFile(path, entries, { metadata: { format: "pt" } });
      return fileBytes;
    });

    // Raw sequential write of the same number of bytes: 16 MiB chunks from one buffer, then fsync.
    const rawPath = join(dir, "raw.bin");
    const rawWrite = sched.timed(async () => {
      await rm(rawPath, { force: true });
      const fh = await open(rawPath, "w");
      const buf = new Uint8Array(16 * MiB).fill(1); // (16 MiB,)
      let pos = 0;
      while (pos < fileBytes) {
        const k = Math.min(buf.byteLength, fileBytes - pos);
        const { bytesWritten } = await fh.write(buf, 0, k, pos);
        pos += bytesWritten;
      }
      await fh.sync();
      await fh.close();
      return pos;
    });
    await rm(rawPath, { force: true });

    // Raw sequential read: 16 MiB chunks into one reused buffer.
    const rawRead = sched.timed(async () => {
      const fh = await open(path, "r");
      const buf = new Uint8Array(16 * MiB); // (16 MiB,)
      let pos = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.byteLength, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
      }
      await fh.close();
      return pos;
    });

    // The same bytes read with plain fs calls into a fresh buffer per tensor (same ranges and sizes
    // as the reader's): what any reader that hands out new tensors must pay (first touch of new
    // memory), without our parsing, validation and bookkeeping. Our overhead = the gap to this.
    const ranges = await (async () => {
      const st = await readSafetensorsFile(path);
      const r = st.list().map((t) => st.byteRange(t.name));
      await st.close();
      return r;
    })();
    const freshRead = sched.timed(async () => {
      const fh = await open(path, "r");
      let n = 0;
      for (const [b, e] of ranges) {
        const buf = new Uint8Array(e - b); // (tensor bytes,) fresh each time
        let done = 0;
        while (done < buf.byteLength) {
          const { bytesRead } = await fh.read(buf, done, buf.byteLength - done, b + done);
          done += bytesRead;
        }
        n += done;
      }
      await fh.close();
      return n;
    });

    const throughReader = (mode: "raw" | "f32") => async (): Promise<number> => {
      const st = await readSafetensorsFile(path);
      let n = 0;
      for (const t of st.list()) {
        const v = mode === "raw" ? await st.readRaw(t.name) : await st.readF32(t.name);
        n += mode === "raw" ? v.byteLength : t.byteLength;
      }
      await st.close();
      return n;
    };
    const readRaw = sched.timed(throughReader("raw"));
    const readF32 = sched.timed(throughReader("f32"));
    // Buffers reused across tensors of the same size and across repetitions (as a layer-by-layer
    // pipeline can do); best-of-N therefore reports the warm steady state.
    const pools = {
      raw: new Map<number, Uint8Array | Float32Array>(),
      f32: new Map<number, Uint8Array | Float32Array>(),
    };
    const throughReaderInto = (mode: "raw" | "f32") => async (): Promise<number> => {
      const st = await readSafetensorsFile(path);
      const pool = pools[mode];
      let n = 0;
      for (const t of st.list()) {
        const len = mode === "raw" ? t.byteLength : t.byteLength / (t.dtype === "BF16" ? 2 : 4);
        let buf = pool.get(len);
        if (buf === undefined) {
          buf = mode === "raw" ? new Uint8Array(len) : new Float32Array(len);
          pool.set(len, buf);
        }
        if (mode === "raw") await st.readRawInto(t.name, buf as Uint8Array);
        else await st.readF32Into(t.name, buf as Float32Array);
        n += t.byteLength;
      }
      await st.close();
      return n;
    };
    const readRawInto = sched.timed(throughReaderInto("raw"));
    const readF32Into = sched.timed(throughReaderInto("f32"));

    // Pure conversion speed (no I/O), for context.
    const conv = sched.timed(async () => {
      bytesToF32(bf16Pattern, "BF16");
      return bf16Pattern.byteLength;
    });
    const convOut = sched.timed(async () => {
      f32ToBytes(f32Pattern, "BF16");
      return f32Pattern.byteLength;
    });
    // F16 both ways, into warm buffers (no allocation), to show the conversion cost alone.
    const f16Bytes = new Uint8Array(f32Pattern.length * 2); // (1024 * 1024 * 2,)
    const f16Back = new Float32Array(f32Pattern.length); // (1024 * 1024,)
    const encF16 = sched.timed(async () => {
      f32ToBytesInto(f32Pattern, "F16", f16Bytes);
      return f32Pattern.byteLength;
    });
    const decF16 = sched.timed(async () => {
      bytesToF32Into(f16Bytes, "F16", f16Back);
      return f16Bytes.byteLength;
    });

    await sched.rounds(reps);
    const rawMBs = rawRead.bytes / 1e6 / rawRead.seconds;
    const freshMBs = freshRead.bytes / 1e6 / freshRead.seconds;
    const phase = (name: string, r: { seconds: number; bytes: number }, ratio: boolean): Phase => {
      const mbPerS = r.bytes / 1e6 / r.seconds;
      return {
        name,
        bytes: r.bytes,
        seconds: Number(r.seconds.toFixed(4)),
        mbPerS: Number(mbPerS.toFixed(1)),
        ...(ratio
          ? {
              ratioToRawRead: Number((mbPerS / rawMBs).toFixed(3)),
              ratioToFreshBufferRead: Number((mbPerS / freshMBs).toFixed(3)),
            }
          : {}),
      };
    };
    const phases: Phase[] = [
      phase("raw sequential fs read (16 MiB chunks)", rawRead, false),
      phase("fs read into a fresh buffer per tensor (same ranges)", freshRead, true),
      phase("reader: readRaw, every tensor", readRaw, true),
      phase("reader: readF32, every tensor (BF16 widened)", readF32, true),
      phase("reader: readRawInto, warm buffers reused per size", readRawInto, true),
      phase("reader: readF32Into, warm buffers reused per size", readF32Into, true),
      phase("raw sequential fs write (16 MiB chunks, fsync)", rawWrite, true),
      {
        ...phase("write: writeSafetensorsFile via atomic sink (incl. fsync)", write, true),
        ratioToRawWrite: Number(
          (write.bytes / write.seconds / (rawWrite.bytes / rawWrite.seconds)).toFixed(3),
        ),
      },
      phase("convert BF16 → F32 (bytes in, no I/O)", conv, false),
      phase("convert F32 → BF16 (bytes in, no I/O)", convOut, false),
      phase("convert F32 → F16 into a warm buffer (bytes in)", encF16, false),
      phase("convert F16 → F32 into a warm buffer (bytes in)", decF16, false),
    ];

    // Memory of reading ONE large tensor lazily, in fresh child processes.
    const big = "model.embed_tokens.weight";
    const runProbe = (mode: "raw" | "f32"): Record<string, number> => {
      const r = spawnSync(
        process.execPath,
        [...process.execArgv, "--expose-gc", fileURLToPath(import.meta.url), "--probe", path, big, mode],
        { encoding: "utf8" },
      );
      if (r.status !== 0) throw new Error(`memory probe failed: ${r.stderr}`);
      return JSON.parse(r.stdout) as Record<string, number>;
    };
    const memRaw = runProbe("raw");
    const memF32 = runProbe("f32");
    const writeCount = 8;
    const writeTensorBytes = Math.floor((sizeMiB * MiB) / writeCount / 4) * 4;
    const writeProbeRun = (gcMode: "gc" | "nogc"): Record<string, number> => {
      const w = spawnSync(
        process.execPath,
        [
          ...process.execArgv,
          "--expose-gc",
          fileURLToPath(import.meta.url),
          "--write-probe",
          join(dir, `write-probe-${gcMode}.safetensors`),
          String(writeCount),
          String(writeTensorBytes),
          gcMode,
        ],
        { encoding: "utf8" },
      );
      if (w.status !== 0) throw new Error(`write probe failed: ${w.stderr}`);
      return JSON.parse(w.stdout) as Record<string, number>;
    };
    const memWrite = writeProbeRun("nogc");
    const memWriteGc = writeProbeRun("gc");
    const tensorBytes = memRaw["tensorBytes"]!;
    const budget = tensorBytes + 16 * MiB;

    const result = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
      totalMemGiB: Number((totalmem() / 1024 ** 3).toFixed(1)),
      fileBytes,
      tensors: entries.length,
      repsBestOf: reps,
      note: "Reads follow the write, so they come from the page cache; ratios compare code paths, not disks.",
      phases,
      goalRatio: 0.8,
      memory: {
        tensor: big,
        tensorBytes,
        budgetBytes: budget,
        readRaw: memRaw,
        readF32: memF32,
        readRawWithinBudget: memRaw["rssGrowth"]! <= budget && memRaw["arrayBuffersGrowth"]! <= budget,
        write: memWrite,
        writeWithGcBetweenTensors: memWriteGc,
      },
    };
    const outDir = join(here, "..", "bench-results");
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, "io.json"), `${JSON.stringify(result, null, 2)}\n`);
    const mib = (b: number): string => (b / MiB).toFixed(1);
    const md = [
      `# tensor-io I/O benchmark`,
      ``,
      `${result.date}, Node ${result.node}, ${result.cpus}, file ${mib(fileBytes)} MiB in ${entries.length} tensors (F32/BF16 mix), best of ${reps} interleaved rounds.`,
      `${result.note}`,
      ``,
      `| phase | MB/s | ratio to raw read (goal ≥ 0.8) | ratio to fresh-buffer read | ratio to raw write |`,
      `|---|---:|---:|---:|---:|`,
      ...phases.map(
        (p) =>
          `| ${p.name} | ${p.mbPerS} | ${p.ratioToRawRead ?? ""} | ${p.ratioToFreshBufferRead ?? ""} | ${p.ratioToRawWrite ?? ""} |`,
      ),
      ``,
      `Memory when reading one ${mib(tensorBytes)} MiB tensor lazily (fresh process; budget tensor + 16 MiB = ${mib(budget)} MiB):`,
      ``,
      `| call | RSS growth MiB | peak RSS growth (sampled) MiB | arrayBuffers growth MiB | after GC: RSS / arrayBuffers MiB |`,
      `|---|---:|---:|---:|---:|`,
      `| readRaw | ${mib(memRaw["rssGrowth"]!)} | ${mib(memRaw["peakRssGrowth"]!)} | ${mib(memRaw["arrayBuffersGrowth"]!)} | ${mib(memRaw["rssGrowthAfterGc"]!)} / ${mib(memRaw["arrayBuffersGrowthAfterGc"]!)} |`,
      `| readF32 (F32 read straight into the result) | ${mib(memF32["rssGrowth"]!)} | ${mib(memF32["peakRssGrowth"]!)} | ${mib(memF32["arrayBuffersGrowth"]!)} | ${mib(memF32["rssGrowthAfterGc"]!)} / ${mib(memF32["arrayBuffersGrowthAfterGc"]!)} |`,
      ``,
      `Writing ${memWrite["count"]} lazily generated tensors of ${mib(memWrite["tensorBytes"]!)} MiB each (F32 and BF16-converted alternately; ${mib(memWrite["written"]!)} MiB file): peak growth RSS / arrayBuffers ${mib(memWrite["peakRssGrowth"]!)} / ${mib(memWrite["peakArrayBuffersGrowth"]!)} MiB as is (V8 frees the caller's finished tensors lazily), ${mib(memWriteGc["peakRssGrowth"]!)} / ${mib(memWriteGc["peakArrayBuffersGrowth"]!)} MiB with a forced GC before each tensor (what the writer itself retains).`,
      ``,
    ].join("\n");
    writeFileSync(join(outDir, "io.md"), md);
    process.stdout.write(`${md}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--write-probe")) {
  const i = process.argv.indexOf("--write-probe");
  await writeProbe(
    process.argv[i + 1]!,
    Number(process.argv[i + 2]),
    Number(process.argv[i + 3]),
    process.argv[i + 4] === "gc",
  );
} else if (process.argv.includes("--probe")) {
  const i = process.argv.indexOf("--probe");
  await probe(process.argv[i + 1]!, process.argv[i + 2]!, process.argv[i + 3] as "raw" | "f32");
} else {
  await main();
}
