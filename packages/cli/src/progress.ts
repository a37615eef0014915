// ---- Progress: a redrawn bar with elapsed time and ETA on a terminal, plain lines otherwise;
// a spinner with elapsed time for steps without a known total ----

import type { CliIo } from "./io.ts";

/** A progress reporter for one long step. */
export interface Progress {
  /** Report `done` of `total` units. */
  update(done: number, total: number): void;
  /** Finish the step (prints the final state once). */
  finish(note?: string): void;
}

/** ETA is shown once this much time has passed (or two units are done). */
const ETA_MIN_MS = 1000;
/** A spinner step that took at least this long leaves a "done in" line on the terminal. */
const STEP_SHOW_MS = 2000;
const SPINNER = ["|", "/", "-", "\\"] as const;

/**
 * A duration for humans: `0.4 s`, `12.3 s` below a minute (one decimal), `2 min 05 s`, `1 h 02 min`.
 *
 * @example
 * formatDuration(45_000); // "45.0 s"
 */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
  const min = Math.round(whole / 60);
  return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, "0")} min`;
}

/**
 * Milliseconds left for `total - done` units at the mean rate so far (`elapsed / done` per unit);
 * undefined while the estimate would be noise: nothing done yet, everything done, or fewer than two
 * units done in under a second.
 *
 * @example
 * etaMs(3, 10, 6000); // 14000: 2 s per unit, 7 units left
 */
export function etaMs(done: number, total: number, elapsedMs: number): number | undefined {
  if (!(done > 0) || !(total > done) || !(elapsedMs >= 0)) return undefined;
  if (done < 2 && elapsedMs < ETA_MIN_MS) return undefined;
  return ((total - done) * elapsedMs) / done;
}

/** `elapsed 12.3 s  ETA 45.0 s` (ETA only when {@link etaMs} has one). */
function timing(done: number, total: number, elapsed: number): string {
  const eta = etaMs(done, total, elapsed);
  return `elapsed ${formatDuration(elapsed)}${eta !== undefined ? `  ETA ${formatDuration(eta)}` : ""}`;
}

/**
 * A progress reporter on `io.stderr`. On a TTY it redraws one line with a bar, the elapsed time and
 * the ETA from the mean rate (`label [#####-----] 3/10  elapsed 6.0 s  ETA 14.0 s`, at most every
 * 100 ms); otherwise it prints plain lines: the first update, then every time another 25 % is
 * done, and the end — so logs stay short. With `quiet` it prints nothing. Time runs from the call
 * (`io.clock`, default `performance.now`).
 *
 * @example
 * const p = createProgress(io, "blocks pruned"); p.update(1, 5); p.finish();
 */
export function createProgress(io: CliIo, label: string, quiet = false): Progress {
  const clock = io.clock ?? (() => performance.now());
  const start = clock();
  let last = Number.NEGATIVE_INFINITY;
  let lastQuarter = -1;
  let state = { done: 0, total: 0 };
  let drawn = false;
  let finished = false;
  const width = Math.max(10, Math.min(40, (io.columns ?? 80) - label.length - 20));
  const bar = (): string => {
    const { done, total } = state;
    const f = total > 0 ? Math.min(1, done / total) : 0;
    const full = Math.round(f * width);
    return `${label} [${"#".repeat(full)}${"-".repeat(width - full)}] ${done}/${total}`;
  };
  return {
    update(done: number, total: number): void {
      if (quiet || finished) return;
      state = { done, total };
      if (io.isTTY === true) {
        const now = clock();
        if (now - last < 100 && done < total) return;
        last = now;
        io.stderr(`\r\x1b[2K${bar()}  ${timing(done, total, now - start)}`);
        drawn = true;
        return;
      }
      const quarter = total > 0 ? Math.floor((4 * done) / total) : 0;
      if (quarter > lastQuarter && done < total) {
        lastQuarter = quarter;
        io.stderr(`${label}: ${done}/${total}\n`);
      }
    },
    finish(note?: string): void {
      if (quiet || finished) return;
      finished = true;
      const tail = note === undefined ? "" : ` ${note}`;
      if (io.isTTY === true) {
        const took = `  in ${formatDuration(clock() - start)}`;
        io.stderr(`${drawn ? "\r\x1b[2K" : ""}${bar()}${took}${tail}\n`);
      } else io.stderr(`${label}: ${state.done}/${state.total} done${tail}\n`);
    },
  };
}

/** A step without a known total (loading, tokenizing, writing). */
export interface Step {
  /**
   * End the step: the spinner line is erased; a step that took 2 s or more leaves
   * `label: done in 3.2 s` (with `note`). Later calls do nothing.
   */
  finish(note?: string): void;
  /** End the step without a "done" line (it failed or was interrupted). */
  cancel(): void;
}

/**
 * A spinner with the elapsed time (`label |  elapsed 3.2 s`) redrawn every 100 ms on a TTY. Off a
 * TTY, and with `quiet`, it prints nothing (logs keep only the steps with a total).
 *
 * @example
 * const s = startStep(io, "loading model"); await load(); s.finish();
 */
export function startStep(io: CliIo, label: string, quiet = false): Step {
  if (quiet || io.isTTY !== true) return { finish: () => {}, cancel: () => {} };
  const clock = io.clock ?? (() => performance.now());
  const start = clock();
  let frame = 0;
  let done = false;
  const draw = (): void => {
    const spin = SPINNER[frame++ % SPINNER.length];
    io.stderr(`\r\x1b[2K${label} ${spin}  elapsed ${formatDuration(clock() - start)}`);
  };
  draw();
  const timer = setInterval(draw, 100);
  (timer as { unref?: () => void }).unref?.();
  const end = (line: string): void => {
    if (done) return;
    done = true;
    clearInterval(timer);
    io.stderr(`\r\x1b[2K${line}`);
  };
  return {
    finish(note?: string): void {
      const took = clock() - start;
      const tail = note === undefined ? "" : ` ${note}`;
      end(took >= STEP_SHOW_MS ? `${label}: done in ${formatDuration(took)}${tail}\n` : "");
    },
    cancel: () => end(""),
  };
}

/**
 * Run `fn` as a {@link startStep} step; the spinner ends when `fn` settles, also when it throws.
 *
 * @example
 * const ckpt = await withStep(io, "opening model.bin", false, () => openModel(path));
 */
export async function withStep<T>(
  io: CliIo,
  label: string,
  quiet: boolean,
  fn: () => Promise<T>,
): Promise<T> {
  const s = startStep(io, label, quiet);
  try {
    const r = await fn();
    s.finish();
    return r;
  } finally {
    s.cancel();
  }
}
