// The help of every command is generated from the same flag table that parseArgs gets: every
// flag the parser accepts is in the help with its default, and nothing else is.
import { describe, expect, it } from "vitest";
import type { CliIo } from "../io.ts";
import { COMMANDS, HELP, main } from "../main.ts";
import { parse } from "./args.ts";
import { formatCommandHelp, GLOBAL_FLAGS, parseOptions } from "./spec.ts";

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), cwd: "/" };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

describe("per-command help", () => {
  it("covers the six commands", () => {
    expect(COMMANDS.map((c) => c.name)).toEqual(["inspect", "prune", "eval", "sweep", "distill", "grpo"]);
  });

  for (const spec of COMMANDS) {
    it(`${spec.name} --help lists every parsed flag with its description and default, and an example`, async () => {
      const r = await run([spec.name, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(formatCommandHelp(spec));
      const lines = r.stdout.split("\n");
      const options = parseOptions(spec);
      const table = { ...GLOBAL_FLAGS, ...spec.flags };
      // Same flags in the parser and in the table the help is generated from.
      expect(Object.keys(options).sort()).toEqual(Object.keys(table).sort());
      for (const [name, o] of Object.entries(options)) {
        const f = table[name]!;
        const line = lines.find((l) => new RegExp(`^  (?:-\\w, )?--${name}\\b`).test(l));
        expect(line, `--${name} in ${spec.name} --help`).toBeDefined();
        expect(f.description.length).toBeGreaterThan(5);
        expect(line).toContain(f.description);
        expect(line!.endsWith(`(default: ${f.default})`)).toBe(true);
        if (o.type === "string") expect(line).toMatch(new RegExp(`--${name} \\S`));
      }
      // No flag in the help that the parser refuses.
      const shown = [...r.stdout.matchAll(/^ {2}(?:-\w, )?--([a-z-]+)/gm)].map((m) => m[1]);
      expect(shown.sort()).toEqual(Object.keys(options).sort());
      expect(r.stdout).toMatch(/\nExamples?:\n {2}mama-prune \S+/);
      for (const e of spec.examples) expect(e.startsWith(`${spec.name} `)).toBe(true);
    });

    it(`${spec.name}: the parser accepts every flag of the help and refuses others`, () => {
      const args: string[] = [];
      for (const [name, f] of Object.entries(spec.flags)) {
        args.push(`--${name}`);
        if (f.type === "string") args.push("x");
      }
      const p = parse(spec, args);
      for (const [name, f] of Object.entries(spec.flags)) {
        expect(p.values[name]).toEqual(f.type === "boolean" ? true : f.multiple === true ? ["x"] : "x");
      }
      expect(() => parse(spec, ["--no-such-flag"])).toThrow(
        new RegExp(`^${spec.name}: Unknown option '--no-such-flag'`),
      );
    });
  }

  it("-h works like --help, and mama-prune --help lists every command with its usage", async () => {
    expect((await run(["eval", "-h"])).stdout).toBe(formatCommandHelp(COMMANDS[2]!));
    const h = await run(["--help"]);
    expect(h.stdout).toBe(HELP);
    for (const c of COMMANDS) {
      expect(h.stdout).toMatch(new RegExp(`\\n {2}${c.name} +${c.summary.replace(/[()×]/g, ".")}\\n`));
      for (const u of c.usage) expect(h.stdout).toContain(`  mama-prune ${u}\n`);
    }
    expect(h.stdout).toContain("mama-prune <command> --help");
  });

  it("shows defaults that come from the protocol constants", async () => {
    const p = (await run(["prune", "--help"])).stdout;
    expect(p).toMatch(/--nsamples <n> +calibration windows drawn \(default: 128\)/);
    expect(p).toMatch(/--seqlen <n> .*\(default: min\(2048, the model's context\)\)/);
    expect(p).toMatch(/--split .*last 15 % .*\(default: false \(the whole text\)\)/);
    expect((await run(["eval", "--help"])).stdout).toMatch(/--seqlen <n> .*\(default: required\)/);
  });
});
