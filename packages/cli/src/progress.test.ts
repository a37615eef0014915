import { afterEach, describe, expect, it, vi } from "vitest";
import type { CliIo } from "./io.ts";
import { createProgress, etaMs, formatDuration, startStep, withStep } from "./progress.ts";

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
    expect(out[0]!.slice(5)).toMatch(/^blocks \[#+-+\] 1\/4 {2}elapsed 0\.0 s$/);
    expect(out[1]).toContain("3/4  elapsed 0.1 s  ETA 0.1 s"); // 150 ms, 3 done: 50 ms per block
    expect(out[2]).toMatch(/\[#+-+\] 3\/4 {2}in 0\.1 s\n$/);
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

describe("elapsed time and ETA", () => {
  it("estimates the time left from the mean rate so far", () => {
    expect(etaMs(3, 10, 6000)).toBe(14000); // 2 s per unit, 7 left
    expect(etaMs(1, 4, 2500)).toBe(7500); // one unit, but over a second: shown
    expect(etaMs(2, 4, 10)).toBe(10); // two units: shown however fast
    expect(etaMs(1, 4, 999)).toBeUndefined(); // one unit in under a second: noise
    expect(etaMs(0, 4, 5000)).toBeUndefined(); // no rate yet
    expect(etaMs(4, 4, 5000)).toBeUndefined(); // done
    expect(etaMs(5, 0, 5000)).toBeUndefined(); // unknown total
  });

  it("formats durations with one decimal below a minute, then minutes and hours", () => {
    expect(formatDuration(0)).toBe("0.0 s");
    expect(formatDuration(12_345)).toBe("12.3 s");
    expect(formatDuration(59_940)).toBe("59.9 s");
    expect(formatDuration(125_000)).toBe("2 min 05 s");
    expect(formatDuration(3_725_000)).toBe("1 h 02 min");
    expect(formatDuration(-5)).toBe("0.0 s");
  });

  it("draws elapsed and ETA on the bar with an injected clock", () => {
    const { io: i, out, tick } = io(true);
    tick(1000); // time before the step does not count
    const p = createProgress(i, "eval windows");
    p.update(0, 10);
    tick(3000);
    p.update(1, 10); // one window after 3 s: over a second, so ETA = 9 × 3 s
    tick(3000);
    p.update(2, 10); // 3 s per window: 8 × 3 s
    tick(40_000);
    p.update(10, 10);
    p.finish("ppl 5");
    expect(out[0]).toMatch(/ 0\/10 {2}elapsed 0\.0 s$/);
    expect(out[1]).toMatch(/ 1\/10 {2}elapsed 3\.0 s {2}ETA 27\.0 s$/);
    expect(out[2]).toMatch(/ 2\/10 {2}elapsed 6\.0 s {2}ETA 24\.0 s$/);
    expect(out[3]).toMatch(/ 10\/10 {2}elapsed 46\.0 s$/);
    expect(out[4]).toMatch(/ 10\/10 {2}in 46\.0 s ppl 5\n$/);
  });
});

describe("startStep (spinner for steps without a total)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("prints nothing off a terminal or when quiet", async () => {
    const { io: i, out } = io(false);
    startStep(i, "loading model").finish("x");
    const t = io(true);
    startStep(t.io, "loading model", true).finish();
    expect(await withStep(i, "writing", false, async () => 7)).toBe(7);
    expect(out).toEqual([]);
    expect(t.out).toEqual([]);
  });

  it("redraws a spinner with the elapsed time and leaves a line only for steps of 2 s or more", () => {
    vi.useFakeTimers();
    const { io: i, out, tick } = io(true);
    const s = startStep(i, "loading model");
    tick(1500);
    vi.advanceTimersByTime(100);
    tick(1000);
    s.finish("(3 files)");
    s.finish(); // once only
    expect(out).toEqual([
      "\r\u001b[2Kloading model |  elapsed 0.0 s",
      "\r\u001b[2Kloading model /  elapsed 1.5 s",
      "\r\u001b[2Kloading model: done in 2.5 s (3 files)\n",
    ]);
    vi.advanceTimersByTime(1000);
    expect(out).toHaveLength(3); // the timer is gone

    out.length = 0;
    startStep(i, "fast").finish();
    expect(out).toEqual(["\r\u001b[2Kfast |  elapsed 0.0 s", "\r\u001b[2K"]);
  });

  it("erases the spinner without a done line when the step fails", async () => {
    const { io: i, out, tick } = io(true);
    await expect(
      withStep(i, "writing out", false, async () => {
        tick(5000);
        throw new Error("disk full");
      }),
    ).rejects.toThrow("disk full");
    expect(out).toEqual(["\r\u001b[2Kwriting out |  elapsed 0.0 s", "\r\u001b[2K"]);
  });
});
