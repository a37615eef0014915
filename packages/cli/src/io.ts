// ---- What main() talks to: injected streams, a working directory and an abort signal ----

/** The outside world of {@link main}: injected so tests can run commands in-process. */
export interface CliIo {
  /** Machine-readable output (tables, `--json`). */
  readonly stdout: (text: string) => void;
  /** Human output: progress, messages, errors. */
  readonly stderr: (text: string) => void;
  /** Draw progress bars (stderr is a terminal). Default false: plain lines. */
  readonly isTTY?: boolean;
  /** Directory relative paths are resolved against. */
  readonly cwd: string;
  /** Aborts the running command (the bin wires it to SIGINT); the command then exits 130. */
  readonly signal?: AbortSignal;
  /** Terminal width for progress bars. Default 80. */
  readonly columns?: number;
  /** Milliseconds clock (default `performance.now`), used to throttle progress output. */
  readonly clock?: () => number;
}
