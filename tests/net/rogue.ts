// Owns a hostile peer for the network tests, run inside a namespace (`node --import tsx rogue.ts plan.json`):
// Noise IK initiations with whatever static key and certificate a test gives (or none), and raw datagrams
// re-sent exactly as captured. It prints one JSON line saying what came back. It must not be imported by
// the daemon; it accepts any certificate a member answers with, so a member that answers is caught.
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Handshaker, type Action } from '../../ts/handshake/handshake.js';

export interface RogueAttempt {
  label: string;
  /** base64 X25519 keys of the rogue */
  privateKey: string; publicKey: string;
  /** base64 DER certificate sent in the initiation payload; null: none (an uncertified peer) */
  cert: string | null;
  /** the member: underlay endpoint and base64 static key */
  to: string; toKey: string;
  /** the realm tag of the initiation (a private group's, ts/node/realms.ts; default 0, the public overlay) */
  realm?: number;
  /** stop waiting once the session exists (a timed legitimate handshake) */
  stopWhenEstablished?: boolean;
}

export interface RogueInject { label: string; to: string; hex: string }

export interface RoguePlan { attempts?: RogueAttempt[]; inject?: RogueInject[]; waitMs?: number }

export interface RogueAttemptResult {
  label: string; to: string; sent: number; replies: number; established: boolean; rejected: string[];
  /** ms from the first initiation to the session (null: none); cookie replies accepted on the way */
  establishedMs: number | null; cookies: number;
}
export interface RogueInjectResult { label: string; to: string; replies: number; firstBytes: number[] }
export interface RogueResult { attempts: RogueAttemptResult[]; inject: RogueInjectResult[] }

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

function endpoint(ep: string): { host: string; port: number } {
  const i = ep.lastIndexOf(':');
  return { host: ep.slice(0, i), port: Number(ep.slice(i + 1)) };
}

async function attempt(a: RogueAttempt, waitMs: number): Promise<RogueAttemptResult> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, r));
  const { host, port } = endpoint(a.to);
  const cert = a.cert === null ? null : b64(a.cert);
  const hs = new Handshaker({
    staticPrivate: b64(a.privateKey), staticPublic: b64(a.publicKey),
    random: (n) => new Uint8Array(randomBytes(n)),
    ...(a.realm ? { realm: a.realm } : {}),
    ...(cert ? { certificate: () => cert, verifyPeer: () => ({ ok: true as const }) } : {}),
  });
  hs.addPeer(1, b64(a.toKey));
  const res: RogueAttemptResult = { label: a.label, to: a.to, sent: 0, replies: 0, established: false, rejected: [], establishedMs: null, cookies: 0 };
  const t0 = performance.now();
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => { done = r; });
  const apply = (acts: Action[]): void => {
    for (const x of acts) {
      if (x.kind === 'send') { sock.send(x.bytes, port, host); res.sent++; }
      else if (x.kind === 'established') { res.established = true; res.establishedMs = Math.round(performance.now() - t0); if (a.stopWhenEstablished) done(); }
      else if (x.kind === 'cookie') res.cookies++;
      else if (x.kind === 'rejected') res.rejected.push(x.code);
    }
  };
  sock.on('message', (m) => { res.replies++; apply(hs.receive(new Uint8Array(m), Date.now())); });
  apply(hs.initiate(1, Date.now()));
  await Promise.race([finished, new Promise((r) => setTimeout(r, waitMs))]);
  sock.close();
  return res;
}

async function inject(x: RogueInject, waitMs: number): Promise<RogueInjectResult> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, r));
  const { host, port } = endpoint(x.to);
  const res: RogueInjectResult = { label: x.label, to: x.to, replies: 0, firstBytes: [] };
  sock.on('message', (m) => { res.replies++; res.firstBytes.push(m[0] ?? -1); });
  sock.send(Buffer.from(x.hex, 'hex'), port, host);
  await new Promise((r) => setTimeout(r, waitMs));
  sock.close();
  return res;
}

const plan = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as RoguePlan;
const waitMs = plan.waitMs ?? 1500;
const out: RogueResult = {
  attempts: await Promise.all((plan.attempts ?? []).map((a) => attempt(a, waitMs))),
  inject: await Promise.all((plan.inject ?? []).map((x) => inject(x, waitMs))),
};
process.stdout.write(JSON.stringify(out) + '\n');
