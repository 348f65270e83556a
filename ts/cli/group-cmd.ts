// Owns `ringvpn group-server` (the web page where people join groups and administrators approve them)
// and `ringvpn join <code>` (a node enrols itself). It must not hold their logic: ts/group/ does.
import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { errors } from '../base/errors.js';
import { parseEndpoint } from '../base/ip.js';
import { createLogger } from '../runtime/log.js';

export function registerGroup(program: Command, say: (line: string) => void): void {
  program.command('group-server')
    .description('run the group server: accounts, join requests, approvals, join codes, certificates and revocation (HTTPS)')
    .requiredOption('--dir <dir>', 'data directory (database, the groups\' CAs, the server\'s certificate)')
    .option('--listen <host:port>', 'address to listen on', '0.0.0.0:8443')
    .option('--url <url>', 'the public base URL members reach (https://host:port); default from --listen and the host name')
    .option('--db <url>', 'sqlite:<file> (default <dir>/group.db) or postgres://user:pass@host/db')
    .option('--publish <group=socket...>', 'hand revocations of a group to a member daemon\'s control socket (it broadcasts them and stores them in the DHT)')
    .action(async (opts: { dir: string; listen: string; url?: string; db?: string; publish?: string[] }) => {
      const ep = parseEndpoint(opts.listen);
      if (!ep) throw errors.E_CONFIG(`--listen ${JSON.stringify(opts.listen)}: expected host:port`);
      const url = (opts.url ?? `https://${ep.host === '0.0.0.0' ? hostname() : ep.host}:${ep.port}`).replace(/\/$/, '');
      if (!/^https:\/\/[^/]+$/.test(url)) throw errors.E_CONFIG(`--url ${JSON.stringify(url)}: expected https://host:port`);
      const publish = new Map<string, string>();
      for (const p of opts.publish ?? []) {
        const i = p.indexOf('=');
        if (i <= 0) throw errors.E_CONFIG(`--publish ${JSON.stringify(p)}: expected <group>=<control socket>`);
        publish.set(p.slice(0, i), p.slice(i + 1));
      }
      mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      const log = createLogger('info');
      const { openGroupStore } = await import('../group/store.js');
      const { loadOrCreateWebCert } = await import('../group/web-cert.js');
      const { buildGroupServer } = await import('../group/server.js');
      const { requestControl } = await import('../runtime/control.js');
      const { publisher } = await import('../group/publish.js');
      const { store, migrated } = await openGroupStore(opts.db ?? `sqlite:${join(opts.dir, 'group.db')}`);
      if (migrated.length) say(`database: schema ${migrated.join(', ')} applied (${store.db.kind})`);
      const web = await loadOrCreateWebCert(opts.dir, new URL(url).hostname);
      const app = await buildGroupServer({
        store, dataDir: opts.dir, url, pin: web.pin, https: { key: web.key, cert: web.cert }, log,
        publish: publisher(publish, (sock, req) => requestControl(sock, req, 30_000)),
      });
      await app.listen({ host: ep.host, port: ep.port });
      say(`group server at ${url} (listening on ${opts.listen}); certificate SHA-256 ${web.pin}${web.created ? ' (new)' : ''}`);
      say(`open ${url}/signup: the first account becomes the server administrator`);
      const stop = (): void => { void app.close().then(() => store.db.close()).then(() => process.exit(0)); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  program.command('join')
    .description('enrol this machine in a group with a join code from the group server, and write its config')
    .argument('<code>', 'the join code (rvj1.…) the group server\'s page shows')
    .option('--dir <dir>', 'where the keys, certificate and config go (default /etc/ringvpn/<group>)')
    .option('--name <name>', 'this node\'s name in the group', hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63) || 'node')
    .option('--device <name>', 'device name', 'ringvpn0')
    .option('--listen-port <port>', 'UDP port', '51820')
    .action(async (code: string, opts: { dir?: string; name: string; device: string; listenPort: string }) => {
      const { decodeJoinCode } = await import('../group/join-code.js');
      const { joinGroup } = await import('../group/join.js');
      const d = decodeJoinCode(code);
      if (!d.ok) throw errors.E_CONFIG(`join code: ${d.why}`);
      const port = Number(opts.listenPort);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw errors.E_CONFIG(`--listen-port ${opts.listenPort}: expected 1..65535`);
      const r = await joinGroup(code, { dir: opts.dir ?? join('/etc/ringvpn', d.code.group), name: opts.name, device: opts.device, listenPort: port, say });
      say(`enrolled in ${r.group}: address ${r.address}, certificate until ${r.notAfter}`);
      say(`config written to ${r.configFile}; start the node with: ringvpn up --config ${r.configFile}`);
      if (!opts.dir) say(`or as a service (examples/systemd/ringvpn@.service): systemctl enable --now ringvpn@${r.group}`);
      say('(it fetches the CRL from the group server and renews its certificate there before it expires)');
    });
}
