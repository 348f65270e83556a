// Owns talking to a group server whose certificate is pinned (a join code's SHA-256): the certificate is
// fetched and compared before any byte of the request is sent, then the request runs over a TLS
// connection that trusts exactly that certificate. It must not fall back to the system's CAs or skip
// the check: a mismatch is E_GROUP_PIN and nothing was sent.
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { connect, type PeerCertificate } from 'node:tls';
import { isIP } from 'node:net';
import { errors } from '../base/errors.js';

const TIMEOUT_MS = 10_000;
const pinOf = (c: PeerCertificate): string => (c.fingerprint256 ?? '').replace(/:/g, '').toLowerCase();
const pemOf = (raw: Buffer): string => `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;

export interface PinnedOptions {
  /** connect to this Unix socket (a relay to the server's address) instead of the URL's host and port */
  socketPath?: string;
  /** more request headers (a session cookie) */
  headers?: Record<string, string>;
}

/** The server's certificate (PEM) if its SHA-256 is `pin`; else E_GROUP_PIN. No application data is sent. */
export function fetchPinnedCert(base: string, pin: string, o: PinnedOptions = {}): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const host = u.hostname.replace(/^\[|\]$/g, '');
    // SNI carries names only, never an address
    const s = connect({ host, port: Number(u.port || 443), ...(o.socketPath ? { path: o.socketPath } : {}), rejectUnauthorized: false, timeout: TIMEOUT_MS, ...(isIP(host) ? {} : { servername: host }) }, () => {
      const c = s.getPeerCertificate();
      s.end();
      if (!c?.raw) { reject(errors.E_GROUP_PIN(`${base} presented no certificate`)); return; }
      if (pinOf(c) !== pin) { reject(errors.E_GROUP_PIN(`${base} presented a certificate with SHA-256 ${pinOf(c)}, not the ${pin} the join code pins: not the group server (or someone in between); nothing was sent`)); return; }
      resolve(pemOf(c.raw));
    });
    s.on('timeout', () => { s.destroy(); reject(errors.E_GROUP_UNREACHABLE(`${base} did not answer within ${TIMEOUT_MS / 1000} s`)); });
    s.on('error', (e) => reject(errors.E_GROUP_UNREACHABLE(`cannot reach ${base}: ${e.message}`)));
  });
}

/**
 * A request to the pinned server: a body is sent as JSON, or as a form if it is URLSearchParams.
 * Status, headers and body; redirects are not followed.
 */
export async function pinnedRequest(base: string, pin: string, method: 'GET' | 'POST', path: string, body?: unknown, o: PinnedOptions = {}): Promise<{ status: number; headers: IncomingHttpHeaders; text: string; json: () => unknown }> {
  const ca = await fetchPinnedCert(base, pin, o);
  const u = new URL(path, base);
  const form = body instanceof URLSearchParams;
  const payload = body === undefined ? undefined : form ? body.toString() : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 443), path: u.pathname + u.search, method, ca, timeout: TIMEOUT_MS,
      ...(o.socketPath ? { socketPath: o.socketPath } : {}),
      // the pin is the identity: the certificate must be exactly the pinned one, whatever name it carries
      checkServerIdentity: (_host, cert) => (pinOf(cert) === pin ? undefined : errors.E_GROUP_PIN(`${base} changed its certificate during the request`)),
      headers: { ...o.headers, ...(payload === undefined ? {} : { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json', 'content-length': Buffer.byteLength(payload) }) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as unknown });
      });
    });
    req.on('timeout', () => { req.destroy(); reject(errors.E_GROUP_UNREACHABLE(`${base} did not answer within ${TIMEOUT_MS / 1000} s`)); });
    req.on('error', (e) => reject((e as { code?: string }).code === 'E_GROUP_PIN' ? e : errors.E_GROUP_UNREACHABLE(`${base}: ${e.message}`)));
    req.end(payload);
  });
}
