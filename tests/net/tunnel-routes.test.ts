// Network test of a full-tunnel client's policy routing (ts/runtime/tunnel-routes.ts) in a namespace with an
// IPv4+IPv6 uplink: the kernel's own route decisions send unmarked traffic (IPv4) into the device, marked
// traffic (the engine's socket) and the local LAN by the main table, IPv6 nowhere; undo leaves rules, routes
// and the sysctl exactly as before, and so does the next start after a run that was killed before its undo.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netTest } from './support.js';
import { Netns } from '../../ts/lab/netns.js';
import { tunnelChanges, tunnelRouteCommand, TUNNEL_MARK } from '../../ts/runtime/tunnel-routes.js';
import { OsJournal, type Run } from '../../ts/runtime/os-journal.js';

netTest('full-tunnel routing: unmarked IPv4 into the tunnel, marked and local traffic by the main table, IPv6 unreachable; undone exactly, also after a kill', async (t) => {
  const sfx = randomBytes(3).toString('hex');
  const client = await Netns.create(`rvtr-c-${sfx}`);
  const inet = await Netns.create(`rvtr-i-${sfx}`);
  try {
    await client.ip(['link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1', 'netns', inet.name]);
    await client.exec('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0']);
    await client.ip(['addr', 'add', '172.31.0.2/24', 'dev', 'u0']);
    await client.ip(['-6', 'addr', 'add', '2001:db8:1::2/64', 'dev', 'u0', 'nodad']);
    await client.ip(['link', 'set', 'u0', 'up']);
    await client.ip(['route', 'add', 'default', 'via', '172.31.0.1']);
    await client.ip(['-6', 'route', 'add', 'default', 'via', '2001:db8:1::1']);
    // rv0 stands for the TUN/TAP device (a veth end: routes only need a device that is up)
    await client.ip(['link', 'add', 'rv0', 'type', 'veth', 'peer', 'name', 'rv1']);
    await client.ip(['addr', 'add', '10.128.0.2/16', 'dev', 'rv0']);
    await client.ip(['link', 'set', 'rv0', 'up']);
    await client.ip(['link', 'set', 'rv1', 'up']);
    const run: Run = async (cmd, args) => {
      const r = await client.exec(cmd, args, { allowFail: true });
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    };
    const snapshot = async (): Promise<string> => (await Promise.all([
      client.ip(['-4', 'rule']), client.ip(['-6', 'rule']), client.ip(['-4', 'route', 'show', 'table', 'all']),
      client.ip(['-6', 'route', 'show', 'table', 'all']), client.exec('sysctl', ['-n', 'net.ipv4.conf.all.src_valid_mark']),
    ])).map((r) => r.stdout).join('\n---\n');
    const get = async (args: string[]): Promise<string> => {
      const fam = args[0] === '-6' ? ['-6'] : [];
      const r = await client.ip([...fam, 'route', 'get', ...args.slice(fam.length)], { allowFail: true });
      return (r.stdout + r.stderr).trim();
    };
    const mark = `0x${TUNNEL_MARK.toString(16)}`;
    const before = await snapshot();
    t.regex(await get(['198.51.100.7']), /dev u0/, 'before: the Internet by the uplink');

    const state = join(mkdtempSync(join(tmpdir(), 'rvtr-')), 'full-tunnel.json');
    const routing = new OsJournal(run, state, 'full tunnel');
    await routing.apply((r) => tunnelChanges(r, { dev: 'rv0', gateway: '10.128.0.1' }));
    const checks: Array<[string[], RegExp, string]> = [
      [['198.51.100.7'], /via 10\.128\.0\.1 dev rv0 table 5256/, 'unmarked IPv4: into the tunnel'],
      [['198.51.100.7', 'mark', mark], /via 172\.31\.0\.1 dev u0/, 'the engine\'s marked datagrams: the uplink'],
      [['172.31.0.9'], /dev u0/, 'the local LAN: still direct'],
      [['10.128.5.5'], /dev rv0/, 'the virtual network: the device'],
      [['-6', '2001:db8:99::1'], /No route to host|unreachable/, 'unmarked IPv6: unreachable, not leaked'],
      [['-6', '2001:db8:99::1', 'mark', mark], /via 2001:db8:1::1 dev u0/, 'marked IPv6: the uplink'],
      [['-6', '2001:db8:1::9'], /dev u0/, 'the local IPv6 LAN: still direct'],
    ];
    for (const [args, re, what] of checks) {
      const got = await get(args);
      t.log(`ip route get ${args.join(' ')} -> ${got.split('\n')[0]}`);
      t.regex(got, re, what);
    }
    // the device loses its address (the kernel drops the device route): unmarked IPv4 is blackholed, not leaked
    await client.ip(['-4', 'addr', 'flush', 'dev', 'rv0']);
    t.regex(await get(['198.51.100.7']), /No route to host|Invalid argument|unreachable|blackhole/, 'without the device route: the blackhole, not the uplink');
    await client.ip(['addr', 'add', '10.128.0.2/16', 'dev', 'rv0']);
    await client.ip(tunnelRouteCommand({ dev: 'rv0', gateway: '10.128.0.1' }));
    t.regex(await get(['198.51.100.7']), /via 10\.128\.0\.1 dev rv0 table 5256/, 'installed again: into the tunnel');
    await routing.undo();
    t.is(await snapshot(), before, 'undo: rules, routes and the sysctl exactly as before');

    // killed before its undo: the next start finds the state file and undoes it
    await new OsJournal(run, state, 'full tunnel').apply((r) => tunnelChanges(r, { dev: 'rv0', gateway: '10.128.0.1' }));
    t.not(await snapshot(), before);
    const left = await new OsJournal(run, state, 'full tunnel').recover();
    t.is(left?.changes.length, 8, 'the state file named the 8 changes');
    t.is(await snapshot(), before, 'after the kill and the next start: exactly as before');
  } finally {
    await client.destroy();
    await inet.destroy();
  }
});
