import { describe, expect, it } from "vitest";
import { escapeTerminal, MAX_STDERR_LINE, safeIo } from "./safe-output.ts";

describe("escapeTerminal / safeIo", () => {
  it("escapes ESC, BEL, C1 CSI, DEL and bidi overrides, keeping text, tabs, newlines and the bar's erase-line", () => {
    expect(escapeTerminal("plain\ttext\n")).toBe("plain\ttext\n");
    expect(escapeTerminal("\u001b]0;t\u0007x\u009b31m\u007f\u202eY")).toBe(
      "\\u001b]0;t\\u0007x\\u009b31m\\u007f\\u202eY",
    );
    expect(escapeTerminal("\r\u001b[2K[####]")).toBe("\r\u001b[2K[####]");
    expect(escapeTerminal("\u001b[2J")).toBe("\\u001b[2J");
  });

  it("bounds stderr lines but leaves stdout lines whole (JSON must stay parseable)", () => {
    let out = "";
    let err = "";
    const io = safeIo({ stdout: (s) => (out += s), stderr: (s) => (err += s), cwd: "." });
    const long = "n".repeat(5000);
    io.stdout(`${long}\n`);
    io.stderr(`short\n${long}\n`);
    expect(out).toBe(`${long}\n`);
    const lines = err.split("\n");
    expect(lines[0]).toBe("short");
    expect(lines[1]!.length).toBeLessThan(MAX_STDERR_LINE + 20);
    expect(lines[1]).toMatch(/…\(\+4000 chars\)$/);
  });
});
