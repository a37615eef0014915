// Strict safetensors by default and --lenient; inspect of any safetensors file; binary texts;
// untrusted names never reaching the terminal raw.
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createRng } from "@mama-prune/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { craftSafetensors, f32Header } from "../test/fixtures/safetensors-craft.ts";
import { createWorkspace, runCli, type Workspace } from "../test/fixtures/workspace.ts";

let ws: Workspace;

/** A control character a terminal would act on: ESC (but the progress bar's erase-line), BEL, CSI, RLO. */
function drivesTerminal(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x1b && !s.startsWith("\u001b[2K", i)) return true;
    if (c === 0x07 || c === 0x9b || c === 0x202e) return true;
  }
  return false;
}
beforeAll(async () => {
  ws = await createWorkspace();
  // The tiny model with 16 bytes appended after its last tensor.
  const dir = join(ws.dir, "trailing");
  await mkdir(dir);
  for (const f of ["config.json", "tokenizer.bin"]) await copyFile(join(ws.model, f), join(dir, f));
  const st = await readFile(join(ws.model, "model.safetensors"));
  await writeFile(join(dir, "model.safetensors"), Buffer.concat([st, Buffer.alloc(16)]));
});
afterAll(async () => {
  await ws.cleanup();
});

/** The meaningful stderr lines (progress lines left out). */
function messages(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("mama-prune:"));
}

describe("strict safetensors by default, --lenient on request", () => {
  it("refuses a model with trailing bytes (inspect, eval, prune) with one typed line and exit 2", async () => {
    for (const argv of [
      ["inspect", "trailing"],
      ["eval", "trailing", "--text", "text.txt", "--seqlen", "8", "--windows", "1"],
      ["prune", "trailing", "--method", "magnitude", "--sparsity", "0.5", "--out", "t-strict"],
    ]) {
      const r = await runCli([...argv, "--quiet"], ws.dir);
      expect(r.code).toBe(2);
      const lines = messages(r.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^mama-prune: TENSOR_IO_MALFORMED: .*trailing\/model\.safetensors.*16/);
      expect(r.stdout).toBe("");
    }
  });

  it("loads it with --lenient and prints one warning naming the unused bytes", async () => {
    const ins = await runCli(["inspect", "trailing", "--lenient", "--json", "--quiet"], ws.dir);
    expect(ins.code).toBe(0);
    expect(JSON.parse(ins.stdout).architecture.layers).toBe(2);
    const warnings = messages(ins.stderr);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^mama-prune: warning: .*16 .*byte/);

    const ev = await runCli(
      ["eval", "trailing", "--text", "text.txt", "--seqlen", "8", "--windows", "2", "--lenient", "--quiet"],
      ws.dir,
    );
    expect(ev.code).toBe(0);
    expect(ev.stdout).toMatch(/^ppl \d+\.\d{4}\n/);
    expect(messages(ev.stderr)).toHaveLength(1);
    // Same weights as the clean model: the same perplexity.
    const clean = await runCli(
      ["eval", "model", "--text", "text.txt", "--seqlen", "8", "--windows", "2", "--quiet"],
      ws.dir,
    );
    expect(ev.stdout.split("\n")[0]).toBe(clean.stdout.split("\n")[0]);
  });

  it("takes lenient: true from a prune recipe", async () => {
    await writeFile(
      join(ws.dir, "lenient.yaml"),
      "model: trailing\nmethod: magnitude\nsparsity: 0.5\nlenient: true\noutput: { dir: t-lenient }\n",
    );
    const r = await runCli(["prune", "--recipe", "lenient.yaml", "--quiet"], ws.dir);
    expect(r.code).toBe(0);
    expect(messages(r.stderr)[0]).toMatch(/^mama-prune: warning: /);
    const pj = JSON.parse(await readFile(join(ws.dir, "t-lenient", "pruning.json"), "utf8"));
    expect(pj.lenient).toBe(true);
  });

  it("sweep: strict by default, --lenient (or recipe lenient: true) runs with a warning", async () => {
    const recipe =
      "model: trailing\nmethods: [magnitude]\nlevels: [0.5]\neval: { text: text.txt, seqlen: 8, windows: 2 }\noutput: { dir: sw }\n";
    await writeFile(join(ws.dir, "sw.yaml"), recipe);
    await writeFile(join(ws.dir, "sw-lenient.yaml"), `${recipe}lenient: true\n`);
    const strict = await runCli(["sweep", "--recipe", "sw.yaml", "--quiet"], ws.dir);
    expect(strict.code).toBe(2);
    expect(messages(strict.stderr)[0]).toMatch(/TENSOR_IO_MALFORMED/);
    for (const argv of [
      ["sweep", "--recipe", "sw.yaml", "--lenient"],
      ["sweep", "--recipe", "sw-lenient.yaml"],
    ]) {
      const r = await runCli([...argv, "--quiet"], ws.dir);
      expect(r.code).toBe(0);
      expect(messages(r.stderr)[0]).toMatch(/^mama-prune: warning: /);
    }
  });

  it("refuses a gap between tensors by default and lists the file with a warning under --lenient", async () => {
    const header = f32Header([
      { name: "a", shape: [2], begin: 0 },
      { name: "b", shape: [3], begin: 12 },
    ]);
    await writeFile(join(ws.dir, "gap.safetensors"), craftSafetensors(header, 24));
    const strict = await runCli(["inspect", "gap.safetensors"], ws.dir);
    expect(strict.code).toBe(2);
    expect(messages(strict.stderr)).toHaveLength(1);
    expect(messages(strict.stderr)[0]).toMatch(/TENSOR_IO_MALFORMED: .*gap\.safetensors/);
    const lenient = await runCli(["inspect", "gap.safetensors", "--lenient"], ws.dir);
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toMatch(/lenient finding/);
    expect(messages(lenient.stderr)).toHaveLength(1);
  });

  it("refuses a field repeated inside one tensor entry in every mode (the data would be ambiguous)", async () => {
    const header = f32Header([{ name: "a", shape: [2], begin: 0, extra: ',"dtype":"F16"' }]);
    await writeFile(join(ws.dir, "dup.safetensors"), craftSafetensors(header, 8));
    for (const extra of [[], ["--lenient"]]) {
      const r = await runCli(["inspect", "dup.safetensors", ...extra], ws.dir);
      expect(r.code).toBe(2);
      expect(messages(r.stderr)).toHaveLength(1);
      expect(messages(r.stderr)[0]).toMatch(/TENSOR_IO_MALFORMED: .*dtype/);
    }
  });
});

describe("inspect of any safetensors file", () => {
  it("lists a non-model file's tensors (name, dtype, shape, bytes) and metadata, exit 0, also as JSON", async () => {
    const header = f32Header(
      [
        { name: "encoder.w", shape: [2, 3], begin: 0 },
        { name: "encoder.b", shape: [3], begin: 24 },
      ],
      { format: "pt", note: "not a llama" },
    );
    await writeFile(join(ws.dir, "plain.safetensors"), craftSafetensors(header, 36));
    const r = await runCli(["inspect", "plain.safetensors"], ws.dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/plain\.safetensors: safetensors file, [\d,]+ bytes .*layout valid\n/);
    expect(r.stdout).toMatch(/\n {2}encoder\.w +F32 +\[2, 3\] {2}24 bytes @ \d+\n/);
    expect(r.stdout).toMatch(/\n {2}encoder\.b +F32 +\[3\] {2}12 bytes @ \d+\n/);
    expect(r.stdout).toContain('"note": "not a llama"');
    const j = JSON.parse((await runCli(["inspect", "plain.safetensors", "--json"], ws.dir)).stdout);
    expect(j.kind).toBe("safetensors-file");
    expect(j.tensors.map((t: { name: string; bytes: number }) => [t.name, t.bytes])).toEqual([
      ["encoder.w", 24],
      ["encoder.b", 12],
    ]);
    expect(j.metadata).toEqual({ format: "pt", note: "not a llama" });
    expect(j.notAModel).toMatch(/CONFIG|config|hidden_size|model_type/i);
  });

  it("keeps the model summary for a model (HF folder) and fails with exit 2 on a truncated file", async () => {
    const m = await runCli(["inspect", "model", "--json", "--quiet"], ws.dir);
    expect(JSON.parse(m.stdout).format).toBe("hf-folder");
    const bytes = craftSafetensors(f32Header([{ name: "w", shape: [4], begin: 0 }]), 16);
    await writeFile(join(ws.dir, "short.safetensors"), bytes.subarray(0, bytes.length - 3));
    const r = await runCli(["inspect", "short.safetensors"], ws.dir);
    expect(r.code).toBe(2);
    expect(messages(r.stderr)[0]).toMatch(/TENSOR_IO_MALFORMED: .*short\.safetensors/);
  });
});

describe("binary files are not text", () => {
  it("refuses a random binary --text with the byte offset, exit 2, and prints no perplexity", async () => {
    const rng = createRng(9);
    const bin = new Uint8Array(2048);
    for (let i = 0; i < bin.length; i++) bin[i] = rng.int(256);
    bin[0] = 0x41; // starts like text
    await writeFile(join(ws.dir, "random.bin"), bin);
    const r = await runCli(["eval", "model", "--text", "random.bin", "--seqlen", "8", "--quiet"], ws.dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = messages(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^mama-prune: EVAL_INVALID: .*random\.bin: not a UTF-8 text file .*byte offset \d+ is 0x[0-9a-f]{2}/,
    );

    const c = await runCli(
      [
        "prune",
        "model",
        "--method",
        "wanda",
        "--sparsity",
        "0.5",
        "--calibration",
        "random.bin",
        "--out",
        "never",
        "--quiet",
      ],
      ws.dir,
    );
    expect(c.code).toBe(2);
    expect(messages(c.stderr)[0]).toMatch(
      /CALIBRATION_INVALID: .*random\.bin: not a UTF-8 text file \(the calibration text\): byte offset/,
    );
  });

  it("strips a leading BOM: the same perplexity as without it", async () => {
    const text = await readFile(ws.text);
    await writeFile(join(ws.dir, "bom.txt"), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text]));
    const a = await runCli(
      ["eval", "model", "--text", "text.txt", "--seqlen", "8", "--windows", "3", "--json", "--quiet"],
      ws.dir,
    );
    const b = await runCli(
      ["eval", "model", "--text", "bom.txt", "--seqlen", "8", "--windows", "3", "--json", "--quiet"],
      ws.dir,
    );
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout).ppl).toBe(JSON.parse(a.stdout).ppl);
  });
});

describe("untrusted strings never reach the terminal raw", () => {
  const hostile = "w\u001b]0;owned\u0007\u001b[2J\u001b[31mred\u009b1m\u202e";
  it("escapes OSC/ANSI/C1/bidi in tensor names in inspect text, JSON and error output", async () => {
    const header = f32Header([{ name: hostile + "x".repeat(500), shape: [2], begin: 0 }]);
    await writeFile(join(ws.dir, "hostile.safetensors"), craftSafetensors(header, 8));
    await writeFile(join(ws.dir, "hostile-bad.safetensors"), craftSafetensors(header, 8, { trailing: 4 }));
    const dup = `{${JSON.stringify(hostile)}:{"dtype":"F32","shape":[1],"data_offsets":[0,4]},${JSON.stringify(hostile)}:{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`;
    await writeFile(join(ws.dir, "hostile-dup.safetensors"), craftSafetensors(dup, 8));
    const runs = [
      await runCli(["inspect", "hostile.safetensors"], ws.dir),
      await runCli(["inspect", "hostile.safetensors", "--json"], ws.dir),
      await runCli(["inspect", "hostile-bad.safetensors"], ws.dir),
      await runCli(["inspect", "hostile-bad.safetensors", "--lenient"], ws.dir),
      await runCli(["inspect", "hostile-dup.safetensors"], ws.dir),
      await runCli(["inspect", "hostile-dup.safetensors", "--json"], ws.dir),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 0, 2, 0, 2, 2]);
    for (const r of runs) {
      for (const s of [r.stdout, r.stderr]) {
        expect(drivesTerminal(s)).toBe(false);
        for (const line of s.split("\n")) expect(line.length).toBeLessThan(1100);
      }
    }
    expect(runs[0]!.stdout).toContain("w\\u001b]0;owned\\u0007");
    expect(JSON.parse(runs[1]!.stdout).tensors[0].name).toBe(hostile + "x".repeat(500));
  });

  it("escapes a hostile name from a recipe (method label) in progress and results", async () => {
    await writeFile(
      join(ws.dir, "label.yaml"),
      `model: model\nmethod: { name: magnitude, label: ${JSON.stringify(hostile)} }\nsparsity: 0.5\noutput: { dir: labelled }\n`,
    );
    const r = await runCli(["prune", "--recipe", "label.yaml"], ws.dir, { isTTY: true });
    expect(r.code).toBe(0);
    expect(drivesTerminal(r.stdout + r.stderr)).toBe(false);
    expect(r.stderr).toContain("\\u001b]0;owned");
  });
});
