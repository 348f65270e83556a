// Owns the daemon's logger: pino writing JSON lines (or pretty-ish text when asked) to stderr.
// It must not decide what is logged; modules call it.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'ringvpn'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
