/**
 * One structured JSON logger per process (pino), created at start-up and
 * passed down; modules take `logger.child({ component })`, never a writer of
 * their own, so no two writers ever race on one file.
 */
import { type Logger, pino } from "pino";

export type { Logger } from "pino";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export function createLogger(options: { level?: LogLevel; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? "relayfleet",
    level: options.level ?? "info",
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // pino's default writer is synchronous on stdout: one writer, ordered lines.
  });
}

/** A logger that drops everything, for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
