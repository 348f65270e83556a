// Owns what a module needs of a logger: the Logger interface (pino's call shape: an optional object of
// fields first, then the message). It must not create or configure a logger; ts/runtime/log.ts makes
// the pino one, which satisfies this interface, and tests may pass silentLogger.

export interface LogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** A Logger that drops everything. */
export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
