// Owns `ringvpn config init|check|schema`: a starting config for each way of running (with a fresh key),
// the check of a config file with a summary of what it sets up, and the JSON Schema of the config (for
// editors: `"$schema"` in a config file). It must not start anything or talk to a daemon.
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { configSchema, loadConfig, type Config } from '../config/schema.js';
import { encodeKey, generateKeyPair } from '../config/keys.js';
import { errors } from '../base/errors.js';

export const CONFIG_MODES = ['mesh', 'overlay', 'seed', 'gateway', 'full-tunnel', 'router', 'private', 'groups'] as const;
export type ConfigMode = (typeof CONFIG_MODES)[number];

/** A starting config for `mode` with this private key (JSON-ready; every value valid as it stands). */
export function initConfig(mode: ConfigMode, privateKey: string): Record<string, unknown> {
  const base = { privateKey };
  if (mode === 'mesh') {
    return {
      // peers: { name, publicKey (theirs, from their keygen), endpoint, address, allowedIps } each; see examples/mesh-a.json
      ...base, address: '10.99.0.1/24', device: { mode: 'tun', name: 'ringvpn0' }, listenPort: 51820, peers: [],
    };
  }
  const overlay = { ...base, network: { id: 'home', subnet: '10.128.0.0/16', domain: 'ringvpn' }, overlay: { bootstrap: ['192.0.2.10:51820'] }, device: { mode: 'tap', name: 'ringvpn0' } };
  switch (mode) {
    case 'overlay': return overlay;
    case 'seed': return { ...overlay, overlay: { bootstrap: [], advertise: ['192.0.2.10:51820'] } };
    case 'gateway': return { ...overlay, gateway: { enable: true, allow: ['*'] } };
    case 'full-tunnel': return { ...overlay, fullTunnel: { enable: true } };
    case 'router': return { ...overlay, network: { ...overlay.network, routes: ['192.168.10.0/24'] } };
    case 'private': return { ...overlay, pki: { ca: '/etc/ringvpn/ca.crt', cert: '/etc/ringvpn/node.crt', crl: '/etc/ringvpn/crl.pem' } };
    // a member of a private group beside the open overlay (docs/private-overlays.md): one device, TUN
    case 'groups': return {
      ...overlay, network: { ...overlay.network, dhcp: false }, device: { mode: 'tun', name: 'ringvpn0' },
      groups: [{ pki: { ca: '/etc/ringvpn/team/ca.crt', cert: '/etc/ringvpn/team/node.crt', crl: '/etc/ringvpn/team/crl.pem' }, network: { id: 'team', subnet: '10.201.0.0/16', domain: 'team' } }],
    };
  }
}

/** The JSON Schema of a config file (input form: defaults are optional). */
export async function configJsonSchema(): Promise<Record<string, unknown>> {
  // imported here so that a daemon does not keep the converter; the custom checks (addresses, keys) have no
  // JSON Schema form: they stay plain strings
  const { toJsonSchema } = await import('@valibot/to-json-schema');
  return toJsonSchema(configSchema, { target: 'draft-2020-12', typeMode: 'input', errorMode: 'ignore' }) as Record<string, unknown>;
}

/** What a valid config sets up, in a few lines. */
export function describeConfig(c: Config): string[] {
  const out = [`key: public ${encodeKey(c.publicKeyBytes)}`, `device: ${c.device.name} (${c.device.mode}, MTU ${c.device.mtu}); UDP ${c.listenAddress}:${c.listenPort}; control socket ${c.controlSocket}`];
  const net = c.network;
  if (!net) {
    out.push(`static mesh: address ${c.address}, ${c.peers.length} peer(s): ${c.peers.map((p) => `${p.name ?? p.address} ${p.endpoint ?? '(no endpoint: it must reach us)'}`).join(', ') || 'none'}`);
    return out;
  }
  out.push(`overlay network ${net.id}: subnet ${net.subnet}, ${net.address ? `fixed address ${net.address}` : 'address from the DHT'}${net.dhcp ? ', DHCP on the device' : ''}${net.dns ? `, DNS (*.${net.domain})` : ''}${net.routes.length ? `, announces ${net.routes.join(' ')}` : ''}`);
  out.push(c.overlay.bootstrap.length ? `bootstrap: ${c.overlay.bootstrap.join(' ')}` : 'bootstrap: none (the seed of a new ring)');
  if (c.gateway.enable) out.push(`gateway: masquerade out of ${c.gateway.uplink ?? 'the default route\'s device'} for ${c.gateway.allow.includes('*') ? 'every member' : `groups ${c.gateway.allow.join(', ')}`}`);
  if (c.fullTunnel.enable) out.push(`full tunnel: all traffic through a gateway from the DHT${c.fullTunnel.gateways ? ` holding group ${c.fullTunnel.gateways.join(' or ')}` : ''}${c.fullTunnel.dns ? `; DNS forwarded to ${c.fullTunnel.dns.join(' ')}` : ''}`);
  if (c.pki) out.push(`private group: CA ${c.pki.ca}, certificate ${c.pki.cert}${c.pki.crl ? `, CRL ${c.pki.crl}` : ''}`);
  for (const g of c.groups) out.push(`private group ${g.network.id} beside the overlay: subnet ${g.network.subnet}, names *.${g.network.domain}; CA ${g.pki.ca}, certificate ${g.pki.cert}${g.pki.crl ? `, CRL ${g.pki.crl}` : ''}`);
  return out;
}

export function registerConfig(program: Command, out: (line: string) => void): void {
  const cmd = program.command('config').description('write, check and describe config files');
  cmd.command('init')
    .description(`print a starting config with a fresh key; modes: ${CONFIG_MODES.join(', ')}`)
    .argument('<mode>', CONFIG_MODES.join(' | '))
    .option('-o, --out <file>', 'write it to this file (mode 0600: it holds the private key)')
    .action((mode: string, o: { out?: string }) => {
      if (!(CONFIG_MODES as readonly string[]).includes(mode)) throw errors.E_CONFIG(`unknown mode ${JSON.stringify(mode)}: one of ${CONFIG_MODES.join(', ')}`);
      const text = JSON.stringify(initConfig(mode as ConfigMode, encodeKey(generateKeyPair().privateKey)), null, 2) + '\n';
      if (!o.out) { process.stdout.write(text); return; }
      try {
        writeFileSync(o.out, text, { mode: 0o600, flag: 'wx' });
      } catch (e) {
        throw errors.E_CONFIG(`cannot write ${o.out}: ${(e as Error).message} (an existing file is never overwritten)`);
      }
      out(`wrote ${o.out}; edit the endpoints and addresses, then: ringvpn config check ${o.out}`);
    });
  cmd.command('check')
    .description('validate a config file and say what it sets up (exit 1 with every problem otherwise)')
    .argument('<file>')
    .action((file: string) => {
      const c = loadConfig(file);
      out(`${file}: valid`);
      for (const l of describeConfig(c)) out(`  ${l}`);
    });
  cmd.command('schema')
    .description('print the JSON Schema of config files (reference it as "$schema" for editor completion)')
    .action(async () => { process.stdout.write(JSON.stringify(await configJsonSchema(), null, 2) + '\n'); });
}
