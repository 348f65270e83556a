// Owns `ringvpn join`'s work: from a join code, make the node's keys (Noise and identity), enrol with
// the group server over pinned HTTPS, and write the certificate, the group's CA and a config that runs
// the node in its group (network, bootstrap, pki with the server for CRL and renewal). It must not start
// the daemon (the command prints how) nor overwrite an existing node's files.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { errors } from '../base/errors.js';
import { encodeKey, generateKeyPair } from '../config/keys.js';
import { createRequest } from '../pki/request.js';
import { decodeJoinCode } from './join-code.js';
import { pinnedRequest } from './pinned.js';
import type { Enrolled } from './enrolment.js';

export interface JoinOptions { dir: string; name: string; device?: string; listenPort?: number; say?: (line: string) => void }
export interface JoinResult { configFile: string; address: string; nodeId: string; group: string; notAfter: string }

export async function joinGroup(codeText: string, o: JoinOptions): Promise<JoinResult> {
  const say = o.say ?? (() => {});
  const d = decodeJoinCode(codeText);
  if (!d.ok) throw errors.E_CONFIG(`join code: ${d.why}`);
  const code = d.code;
  const dir = resolve(o.dir);
  const files = { key: join(dir, 'key.json'), identity: join(dir, 'identity.key'), cert: join(dir, 'node.crt'), ca: join(dir, 'ca.crt'), config: join(dir, 'config.json') };
  const taken = Object.values(files).find((f) => existsSync(f));
  if (taken) throw errors.E_CONFIG(`${taken} exists: this directory holds a node already (choose another --dir, or remove it to join again)`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const kp = generateKeyPair();
  const { csrPem, nodeId } = await createRequest({ name: o.name, noisePublicKey: kp.publicKey, identityKeyFile: files.identity });
  say(`node ${o.name}: id ${nodeId}; enrolling with ${code.url} (group ${code.group}, certificate pinned)`);
  let body: Partial<Enrolled> & { code?: string; message?: string };
  try {
    const res = await pinnedRequest(code.url, code.pin, 'POST', '/api/v1/enrol', { token: code.token, csr: csrPem });
    try { body = res.json() as typeof body; } catch { throw errors.E_GROUP_REFUSED(`${code.url} answered HTTP ${res.status} without JSON`); }
    if (res.status !== 200 || !body.certificate || !body.ca || !body.group || !body.address) {
      throw errors.E_GROUP_REFUSED(`${code.url} refused the enrolment: ${body.code ?? res.status}: ${body.message ?? ''}`);
    }
  } catch (e) {
    rmSync(files.identity, { force: true }); // nothing was enrolled: leave the directory as it was
    throw e;
  }
  writeFileSync(files.key, JSON.stringify({ privateKey: encodeKey(kp.privateKey), publicKey: encodeKey(kp.publicKey) }, null, 2) + '\n', { mode: 0o600 });
  writeFileSync(files.cert, body.certificate, { mode: 0o644 });
  writeFileSync(files.ca, body.ca, { mode: 0o644 });
  const config = {
    privateKeyFile: files.key,
    name: o.name,
    listenPort: o.listenPort ?? 51820,
    device: { mode: 'tun', name: o.device ?? 'ringvpn0' },
    network: { id: body.group.name, subnet: body.group.subnet, address: body.address, dhcp: false },
    overlay: { bootstrap: body.group.bootstrap },
    pki: {
      ca: files.ca, cert: files.cert, crl: `${code.url}/api/v1/groups/${body.group.name}/crl`, crlPollSeconds: 60,
      server: { url: code.url, pin: code.pin, group: body.group.name, identityKey: files.identity },
    },
  };
  writeFileSync(files.config, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  return { configFile: files.config, address: body.address, nodeId, group: body.group.name, notAfter: body.notAfter ?? '' };
}
