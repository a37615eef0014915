/** Minimal structured logger injected into libraries (they never call console directly). */
export interface Logger {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
}

/** A logger that drops everything. */
export const SILENT_LOGGER: Logger = {
  debug(): void {},
  info(): void {},
  warn(): void {},
};

/** One recorded log entry. */
export interface LogRecord {
  readonly level: "debug" | "info" | "warn";
  readonly message: string;
  readonly data?: Record<string, unknown>;
}

/**
 * A logger that records entries in memory (useful in tests and to attach diagnostics to results).
 *
 * @example
 * const log = createMemoryLogger(); log.warn("x"); log.records.length; // 1
 */
export function createMemoryLogger(): Logger & { readonly records: LogRecord[] } {
  const records: LogRecord[] = [];
  const push =
    (level: LogRecord["level"]) =>
    (message: string, data?: Record<string, unknown>): void => {
      records.push(data === undefined ? { level, message } : { level, message, data });
    };
  return { records, debug: push("debug"), info: push("info"), warn: push("warn") };
}
