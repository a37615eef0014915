import { describe, expect, it } from "vitest";
import { isPruneError } from "./errors.ts";
import { createYielder } from "./yielder.ts";

/** A synchronous busy loop of `ms` milliseconds (a kernel that never awaits anything real). */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* busy */
  }
}

describe("createYielder", () => {
  it("lets a timer abort a loop whose awaits resolve at once, and names where it stopped", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const tick = createYielder(controller.signal, { everyMs: 10 });
    let k = 0;
    const t0 = performance.now();
    let thrown: unknown;
    try {
      for (; k < 100_000; k++) {
        await tick(`loop (step ${k})`);
        spin(1);
        await Promise.resolve(); // what a JS backend's matmul returns
      }
    } catch (e) {
      thrown = e;
    }
    const elapsed = performance.now() - t0;
    expect(isPruneError(thrown, "ABORTED")).toBe(true);
    expect((thrown as Error).message).toBe(`loop (step ${k}): aborted`);
    // 30 ms timer + at most one everyMs stretch (10 ms) + timer slack on a loaded machine.
    expect(elapsed).toBeLessThan(500);
    expect(k).toBeGreaterThan(5);
  });

  it("never lets the timer fire without it: the same loop runs to the end", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 5);
    let k = 0;
    for (; k < 40; k++) {
      spin(1);
      await Promise.resolve();
    }
    expect(controller.signal.aborted).toBe(false); // the reason the helper exists
    await new Promise((r) => setTimeout(r, 10));
    expect(controller.signal.aborted).toBe(true);
  });

  it("yields at most once per everyMs (first call included) and checks the signal on every call", async () => {
    const controller = new AbortController();
    const tick = createYielder(controller.signal, { everyMs: 1_000_000 });
    let timers = 0;
    const counter = setInterval(() => timers++, 0);
    try {
      await tick("a"); // the first call waits for one macrotask
      for (let i = 0; i < 50; i++) await tick("b");
      // The interval could have run at most during the first call's wait.
      expect(timers).toBeLessThanOrEqual(1);
      controller.abort();
      await expect(tick("c")).rejects.toMatchObject({ code: "ABORTED", message: "c: aborted" });
    } finally {
      clearInterval(counter);
    }
  });

  it("with yieldOnFirstCall: false, waits only once everyMs have passed since its creation", async () => {
    const signal = new AbortController().signal;
    let timers = 0;
    const counter = setInterval(() => timers++, 0);
    try {
      const inner = createYielder(signal, { everyMs: 20, yieldOnFirstCall: false });
      for (let i = 0; i < 50; i++) await inner("inner");
      expect(timers).toBe(0); // no macrotask: the calls came within 20 ms of its creation
      spin(25);
      await inner("inner"); // 25 ms later: this call waits, and the overdue interval runs first
      expect(timers).toBeGreaterThan(0);
    } finally {
      clearInterval(counter);
    }
  });

  it("does nothing without a signal and refuses a bad everyMs", async () => {
    const tick = createYielder(undefined);
    let ran = false;
    setTimeout(() => {
      ran = true;
    }, 0);
    for (let i = 0; i < 10; i++) await tick("x");
    expect(ran).toBe(false);
    expect(() => createYielder(undefined, { everyMs: -1 })).toThrow(RangeError);
    expect(() => createYielder(new AbortController().signal, { everyMs: Number.NaN })).toThrow(
      /everyMs must be a finite number/,
    );
  });
});
