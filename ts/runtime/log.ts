// Owns the daemon's logger: pino writing JSON lines to stderr. Modules take ts/base/log.ts's Logger
// interface, which the pino logger satisfies; it must not decide what is logged.
import { pino, type Logger as PinoLogger } from 'pino';
import type { Logger } from '../base/log.js';

export function createLogger(level: string, name = 'ringvpn'): PinoLogger & Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
