// Ctrl-C, end to end: the real executable in a child process (node with tsx's loader, as a user's
// node runs it), interrupted while the work is under way. Every command and both CPU backends must
// exit 130 promptly and leave the output folder as it was (here: not there at all).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLED_MODEL, BUNDLED_TEXT, REPO_ROOT, writeTinyModel } from "../test/fixtures/workspace.ts";

const BIN = join(REPO_ROOT, "packages/cli/src/bin.ts");
/** Kill-to-exit limit: 1 s is the requirement; this shared 2-core CI machine gets 2 s of slack. */
const LATENCY_LIMIT_MS = 2000;
/** A child still running this long after SIGINT is killed (the test then fails on its exit code). */
const GIVE_UP_MS = 15_000;

interface Interrupted {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly sent: boolean;
  readonly latencyMs: number;
  readonly stderr: string;
}

/** Spawn `mama-prune args`, send SIGINT once stderr shows `ready`, and time the exit. */
async function interrupt(args: string[], ready: RegExp): Promise<Interrupted> {
  // node with tsx's loader, not the tsx launcher: the launcher relays signals itself and SIGKILLs
  // a child that is too busy to acknowledge within 60 ms, which is not what a user's node does.
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "--conditions", "@mama-prune/source", BIN, ...args],
    { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  let sentAt: number | undefined;
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
    if (sentAt === undefined && ready.test(stderr)) {
      sentAt = performance.now();
      child.kill("SIGINT");
      setTimeout(() => child.kill("SIGKILL"), GIVE_UP_MS).unref();
    }
  });
  child.stdout!.resume();
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on("exit", (c, s) => res({ code: c, signal: s })),
  );
  const exitedAt = performance.now();
  return {
    code,
    signal,
    sent: sentAt !== undefined,
    latencyMs: sentAt === undefined ? Number.NaN : exitedAt - sentAt,
    stderr,
  };
}

let dir = "";
let bigModel = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mama-sigint-"));
  // inspect of the bundled model is over in milliseconds: inspect a larger model instead.
  bigModel = join(dir, "big-model");
  await writeTinyModel(bigModel, { layers: 48, hidden: 128, intermediate: 1024 });
  await writeFile(
    join(dir, "sweep.yaml"),
    [
      `model: ${BUNDLED_MODEL}`,
      "methods: [{ name: wanda }, { name: sparsegpt }]",
      "levels: [0.5, 0.6]",
      `calibration: { text: ${BUNDLED_TEXT}, nsamples: 32, seqlen: 256, seed: 0 }`,
      `eval: { text: ${BUNDLED_TEXT}, seqlen: 256, windows: 8 }`,
      "",
    ].join("\n"),
  );
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const measured: string[] = [];
afterAll(() => {
  // Shown in the test log: the measured kill-to-exit latency of each case.
  console.log(`Ctrl-C latency (kill → exit):\n${measured.join("\n")}`);
});

/** The cases: each runs for several seconds uninterrupted on the bundled model. */
const CASES: readonly {
  readonly name: string;
  readonly args: (out: string) => string[];
  readonly ready: RegExp;
  readonly backends: readonly ("js" | "wasm")[];
  /** Whether `out` is a folder the command would write. */
  readonly writes: boolean;
}[] = [
  {
    name: "inspect",
    args: () => ["inspect", bigModel],
    ready: /tensors read: [1-9]/,
    backends: ["js"],
    writes: false,
  },
  {
    name: "eval",
    args: () => ["eval", BUNDLED_MODEL, "--text", BUNDLED_TEXT, "--seqlen", "256"],
    ready: /eval blocks \(all windows, one block resident\): 1\/5/, // 1,122 windows: minutes of work
    backends: ["js", "wasm"],
    writes: false,
  },
  {
    name: "prune wanda",
    args: (out) => [
      ...["prune", BUNDLED_MODEL, "--method", "wanda", "--sparsity", "0.5"],
      ...["--calibration", BUNDLED_TEXT, "--nsamples", "32", "--seqlen", "256", "--out", out],
    ],
    ready: /blocks pruned: 1\/5/,
    backends: ["js", "wasm"],
    writes: true,
  },
  {
    name: "prune sparsegpt",
    args: (out) => [
      ...["prune", BUNDLED_MODEL, "--method", "sparsegpt", "--sparsity", "0.5"],
      ...["--calibration", BUNDLED_TEXT, "--nsamples", "128", "--seqlen", "256", "--out", out],
    ],
    // Block 1's calibration run (16 batches of 8 windows) is seconds without an await that waits.
    ready: /blocks pruned: 1\/5/,
    backends: ["js", "wasm"],
    writes: true,
  },
  {
    name: "sweep",
    args: (out) => ["sweep", "--recipe", join(dir, "sweep.yaml"), "--out", out],
    ready: /blocks pruned: 1\/5/,
    backends: ["js", "wasm"],
    writes: true,
  },
];

describe("Ctrl-C (SIGINT) in a child process", () => {
  for (const c of CASES) {
    for (const backend of c.backends) {
      it(`${c.name} --backend ${backend}: exits 130 promptly and leaves no output`, async () => {
        const out = join(dir, `out-${c.name.replace(" ", "-")}-${backend}`);
        const args = c.args(out);
        const r = await interrupt(c.name === "inspect" ? args : [...args, "--backend", backend], c.ready);
        measured.push(`  ${c.name} --backend ${backend}: ${r.latencyMs.toFixed(0)} ms (exit ${r.code})`);
        expect(r.sent, r.stderr).toBe(true);
        expect(r.signal).toBeNull();
        expect(r.code, r.stderr).toBe(130);
        expect(r.stderr).toMatch(/mama-prune: interrupted; no partial output was left\.\n$/);
        expect(r.latencyMs, r.stderr).toBeLessThan(LATENCY_LIMIT_MS);
        if (c.writes) {
          // Neither the folder nor a staging folder beside it.
          const left = (await readdir(dir)).filter((f) => f.startsWith(`out-${c.name.replace(" ", "-")}`));
          expect(left).toEqual([]);
        }
      }, 120_000);
    }
  }
});
