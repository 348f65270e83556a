import test from 'ava';
import { Command } from 'commander';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeKey, generateKeyPair } from '../config/keys.js';
import { registerPki } from '../cli/pki.js';
import { tmpDir } from './testkit.js';

const tmp = tmpDir();
test.after.always(() => tmp.cleanup());

/** Runs `ringvpn <args>` in-process; returns what it printed and the exit code it set. */
async function ringvpn(...args: string[]): Promise<{ out: string; err: string; code: number; error?: { code?: string; message: string } }> {
  const program = new Command().exitOverride();
  registerPki(program);
  let out = '', err = '';
  const ow = process.stdout.write.bind(process.stdout), ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => { out += s; return true; }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => { err += s; return true; }) as typeof process.stderr.write;
  process.exitCode = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
    return { out, err, code: Number(process.exitCode ?? 0) };
  } catch (e) {
    return { out, err, code: 1, error: e as { code?: string; message: string } };
  } finally {
    process.stdout.write = ow; process.stderr.write = ew;
    process.exitCode = 0;
  }
}

test.serial('ca init, cert request, ca sign, cert show, ca revoke', async (t) => {
  const d = tmp.dir, ca = join(d, 'ca');
  const kp = generateKeyPair();
  writeFileSync(join(d, 'node.json'), JSON.stringify({ privateKey: encodeKey(kp.privateKey), name: 'beta', network: {} }));
  let r = await ringvpn('ca', 'init', '--dir', ca, '--name', 'Test Net', '--days', '30');
  t.is(r.code, 0, r.error?.message);
  t.regex(r.out, /wrote .*ca\.key/);
  r = await ringvpn('cert', 'request', '--config', join(d, 'node.json'), '--out', join(d, 'node.csr'));
  t.is(r.code, 0, r.error?.message);
  t.true(existsSync(join(d, 'node.json.identity.key')));
  t.regex(r.out, /created, mode 0600/);
  r = await ringvpn('ca', 'sign', '--dir', ca, join(d, 'node.csr'), '--address', '10.3.0.9', '--subnet', '10.30.0.0/16', '--group', 'eng', '--out', join(d, 'node.crt'));
  t.is(r.code, 0, r.error?.message);
  t.regex(r.out, /issued serial 01 to "beta"/);
  r = await ringvpn('cert', 'show', join(d, 'node.crt'), '--ca', join(ca, 'ca.crt'), '--json');
  const j = JSON.parse(r.out) as Record<string, unknown>;
  t.is(j.name, 'beta');
  t.is(j.address, '10.3.0.9');
  t.deepEqual(j.subnets, ['10.30.0.0/16']);
  t.is(j.noiseKey, encodeKey(kp.publicKey));
  t.deepEqual(j.verify, { ok: true });
  r = await ringvpn('cert', 'show', join(d, 'node.crt'), '--ca', join(ca, 'ca.crt'));
  t.regex(r.out, /verify +verifies against CN=Test Net/);
  r = await ringvpn('ca', 'revoke', '--dir', ca, '--cert', join(d, 'node.crt'), '--reason', 'lost laptop', '--out', join(d, 'rec.bin'));
  t.is(r.code, 0, r.error?.message);
  t.regex(r.out, /revoked: serial 01/);
  t.is(readFileSync(join(d, 'rec.bin')).length, 95);
  r = await ringvpn('cert', 'show', join(d, 'node.crt'), '--ca', join(ca, 'ca.crt'), '--crl', join(ca, 'crl.pem'));
  t.is(r.code, 1);
  t.regex(r.out, /DOES NOT VERIFY .*revoked/);
  r = await ringvpn('cert', 'show', join(d, 'rec.bin'), '--ca', join(ca, 'ca.crt'));
  t.regex(r.out, /revocation record \(95 bytes\), signature ok/);
  r = await ringvpn('cert', 'show', join(ca, 'crl.pem'), '--ca', join(ca, 'ca.crt'));
  t.regex(r.out, /revoked +01/);
});

test.serial('clear errors for wrong files and a wrong CA', async (t) => {
  const d = tmp.dir, ca = join(d, 'ca');
  let r = await ringvpn('ca', 'init', '--dir', join(d, 'ca2'), '--name', 'Other');
  t.is(r.code, 0);
  r = await ringvpn('cert', 'show', join(d, 'node.crt'), '--ca', join(d, 'ca2', 'ca.crt'));
  t.is(r.code, 1);
  t.regex(r.out, /unknown_ca/);
  r = await ringvpn('cert', 'show', join(d, 'node.crt'), '--ca', join(d, 'node.crt'));
  t.is(r.error?.code, 'E_PKI');
  t.regex(r.error!.message, /not a CA certificate/);
  r = await ringvpn('ca', 'sign', '--dir', ca, join(d, 'node.crt'), '--address', '10.3.0.10');
  t.regex(r.error!.message, /not a PEM CERTIFICATE REQUEST/);
  r = await ringvpn('ca', 'sign', '--dir', join(d, 'nowhere'), join(d, 'node.csr'), '--address', '10.3.0.10');
  t.regex(r.error!.message, /not a ringvpn CA directory/);
  r = await ringvpn('ca', 'init', '--dir', ca, '--name', 'again');
  t.regex(r.error!.message, /already holds a CA/);
  r = await ringvpn('ca', 'revoke', '--dir', ca);
  t.regex(r.error!.message, /exactly one of --serial or --cert/);
  r = await ringvpn('ca', 'revoke', '--dir', ca, '--serial', 'zz');
  t.regex(r.error!.message, /not hexadecimal/);
  r = await ringvpn('cert', 'show', join(d, 'node.json'));
  t.regex(r.error!.message, /not a ringvpn node certificate/);
});
