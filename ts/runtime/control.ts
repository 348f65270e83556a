// Owns the local control socket: a Unix socket speaking one JSON request and one JSON reply per line.
// It must not know what the daemon does with a request; the daemon passes a handler.
import { createConnection, createServer, type Server } from 'node:net';
import { mkdirSync, rmSync, chmodSync, lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { errors, isErrorCode, RingvpnError } from '../base/errors.js';

export type ControlRequest = { cmd: string; [k: string]: unknown };
export type ControlHandler = (req: ControlRequest) => unknown | Promise<unknown>;

export async function serveControl(path: string, handler: ControlHandler): Promise<Server> {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st && !st.isSocket()) throw errors.E_CONTROL_SOCKET('a file that is not a socket is in the way; refusing to remove it');
    if (st) {
      if (await socketAnswers(path)) throw errors.E_CONTROL_SOCKET('another ringvpn daemon is answering on it');
      rmSync(path, { force: true });
    }
  } catch (e) {
    throw new RingvpnError('E_CONTROL_SOCKET', `cannot create the control socket ${path}: ${(e as Error).message}`);
  }
  const server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 65536) { sock.destroy(); return; }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void answer(line).then((reply) => sock.write(JSON.stringify(reply) + '\n'));
      }
    });
  });
  async function answer(line: string): Promise<unknown> {
    let req: ControlRequest;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as ControlRequest).cmd !== 'string') {
        return { ok: false, code: 'E_BAD_REQUEST', error: 'expected {"cmd": "..."}' };
      }
      req = parsed as ControlRequest;
    } catch {
      return { ok: false, code: 'E_BAD_REQUEST', error: 'not JSON' };
    }
    try {
      return { ok: true, result: await handler(req) };
    } catch (e) {
      return { ok: false, code: (e as { code?: string }).code ?? 'E_INTERNAL', error: (e as Error).message };
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new RingvpnError('E_CONTROL_SOCKET', `cannot listen on ${path}: ${e.message}`)));
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o660);
  return server;
}

export function requestControl(path: string, req: ControlRequest, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new RingvpnError('E_CONTROL_SOCKET', `no answer from ${path} within ${timeoutMs} ms`)); }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (c: string) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      const reply = JSON.parse(buf.slice(0, nl)) as { ok: boolean; result?: unknown; code?: string; error?: string };
      if (reply.ok) resolve(reply.result);
      else reject(new RingvpnError(isErrorCode(reply.code) ? reply.code : 'E_INTERNAL', reply.error ?? 'failed'));
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is ringvpn up running?' : e.message;
      reject(new RingvpnError('E_DAEMON_NOT_RUNNING', `cannot reach the daemon at ${path}: ${why}`));
    });
  });
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection(path);
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}
