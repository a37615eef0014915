// ---- Progress: a redrawn bar on a terminal, plain lines otherwise ----

import type { CliIo } from "./io.ts";

/** A progress reporter for one long step. */
export interface Progress {
  /** Report `done` of `total` units. */
  update(done: number, total: number): void;
  /** Finish the step (prints the final state once). */
  finish(note?: string): void;
}

/**
 * A progress reporter on `io.stderr`. On a TTY it redraws one line with a bar
 * (`label [#####-----] 3/10`, at most every 100 ms); otherwise it prints plain lines: the first
 * update, then every time another 25 % is done, and the end — so logs stay short.
 * With `quiet` it prints nothing.
 *
 * @example
 * const p = createProgress(io, "blocks pruned"); p.update(1, 5); p.finish();
 */
export function createProgress(io: CliIo, label: string, quiet = false): Progress {
  const clock = io.clock ?? (() => performance.now());
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
        io.stderr(`\r\x1b[2K${bar()}`);
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
      if (io.isTTY === true) io.stderr(`${drawn ? "\r\x1b[2K" : ""}${bar()}${tail}\n`);
      else io.stderr(`${label}: ${state.done}/${state.total} done${tail}\n`);
    },
  };
}
