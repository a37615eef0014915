import { describe, expect, it } from "vitest";
import type { CliIo } from "./io.ts";
import { createProgress } from "./progress.ts";

function io(isTTY: boolean): { io: CliIo; out: string[]; tick: (ms: number) => void } {
  const out: string[] = [];
  let now = 0;
  return {
    io: { stdout: () => {}, stderr: (s) => out.push(s), cwd: "/", isTTY, clock: () => now, columns: 60 },
    out,
    tick: (ms) => {
      now += ms;
    },
  };
}

describe("createProgress", () => {
  it("prints plain lines at each quarter and at the end when not on a terminal", () => {
    const { io: i, out } = io(false);
    const p = createProgress(i, "eval windows");
    for (let k = 0; k <= 8; k++) p.update(k, 8);
    p.finish("ppl 5");
    expect(out).toEqual([
      "eval windows: 0/8\n",
      "eval windows: 2/8\n",
      "eval windows: 4/8\n",
      "eval windows: 6/8\n",
      "eval windows: 8/8 done ppl 5\n",
    ]);
  });

  it("redraws one bar on a terminal, throttled, and ends the line on finish", () => {
    const { io: i, out, tick } = io(true);
    const p = createProgress(i, "blocks");
    p.update(1, 4);
    p.update(2, 4); // within 100 ms: skipped
    tick(150);
    p.update(3, 4);
    p.finish();
    expect(out).toHaveLength(3);
    expect(out[0]!.startsWith("\r\u001b[2K")).toBe(true);
    expect(out[0]!.slice(5)).toMatch(/^blocks \[#+-+\] 1\/4$/);
    expect(out[1]).toContain("3/4");
    expect(out[2]).toMatch(/\[#+-+\] 3\/4\n$/);
    expect(out.every((s) => !s.includes("\n") || s.endsWith("\n"))).toBe(true);
  });

  it("prints nothing when quiet, and nothing after finish", () => {
    const { io: i, out } = io(false);
    const q = createProgress(i, "x", true);
    q.update(1, 2);
    q.finish();
    const p = createProgress(i, "y");
    p.finish();
    p.update(1, 2);
    expect(out).toEqual(["y: 0/0 done\n"]);
  });
});
