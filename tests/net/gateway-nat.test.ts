// Network test of a gateway's OS side (ts/runtime/gateway-nat.ts): a "member" namespace behind the gateway's
// device reaches an "internet" namespace that has no route back to the virtual subnet, so a reply proves
// forwarding and masquerade; undo leaves netfilter and ip_forward exactly as before, and so does the next
// start after a run that was killed before its undo.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netTest } from './support.js';
import { Netns } from '../../ts/lab/netns.js';
import { gatewayChanges, defaultUplink } from '../../ts/runtime/gateway-nat.js';
import { OsJournal, type Run } from '../../ts/runtime/os-journal.js';

netTest('gateway NAT: a member behind the device reaches the Internet only while the gateway is on; undone exactly, also after a kill', async (t) => {
  const sfx = randomBytes(3).toString('hex');
  const gw = await Netns.create(`rvgw-g-${sfx}`);
  const member = await Netns.create(`rvgw-m-${sfx}`);
  const inet = await Netns.create(`rvgw-i-${sfx}`);
  try {
    // uplink gw:u0 172.31.0.2 <-> inet:u1 172.31.0.1 (inet has no route to 10.128/16)
    await gw.ip(['link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1', 'netns', inet.name]);
    await gw.ip(['addr', 'add', '172.31.0.2/24', 'dev', 'u0']);
    await gw.ip(['link', 'set', 'u0', 'up']);
    await gw.ip(['route', 'add', 'default', 'via', '172.31.0.1']);
    await inet.ip(['addr', 'add', '172.31.0.1/24', 'dev', 'u1']);
    await inet.ip(['link', 'set', 'u1', 'up']);
    // rv0 stands for the gateway's device; the member's packets arrive on it from 10.128.0.5
    await gw.ip(['link', 'add', 'rv0', 'type', 'veth', 'peer', 'name', 'm0', 'netns', member.name]);
    await gw.ip(['addr', 'add', '10.128.0.2/16', 'dev', 'rv0']);
    await gw.ip(['link', 'set', 'rv0', 'up']);
    await member.ip(['addr', 'add', '10.128.0.5/16', 'dev', 'm0']);
    await member.ip(['link', 'set', 'm0', 'up']);
    await member.ip(['route', 'add', 'default', 'via', '10.128.0.2']);
    await gw.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
    const run: Run = async (cmd, args) => {
      const r = await gw.exec(cmd, args, { allowFail: true });
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    };
    // netfilter and forwarding as text, without packet counters (traffic moves them)
    const snapshot = async (): Promise<string> => [
      (await gw.exec('iptables-save')).stdout.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n'),
      (await gw.exec('sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout,
    ].join('\n---\n');
    const reaches = async (): Promise<boolean> => /[1-9]\d* received/.test((await member.exec('ping', ['-n', '-c', '2', '-i', '0.2', '-W', '1', '172.31.0.1'], { allowFail: true })).stdout);
    // a fresh namespace has no tables until something lists them; a host has them (empty ones stay after the undo)
    for (const table of ['filter', 'nat']) {
      await gw.exec('iptables', ['-w', '-t', table, '-N', 'RVTEST']);
      await gw.exec('iptables', ['-w', '-t', table, '-X', 'RVTEST']);
    }
    const before = await snapshot();
    t.false(await reaches(), 'before: no forwarding');

    const uplink = await defaultUplink(run);
    t.is(uplink, 'u0');
    const state = join(mkdtempSync(join(tmpdir(), 'rvgw-')), 'gateway.json');
    const nat = new OsJournal(run, state, 'gateway');
    await nat.apply((r) => gatewayChanges(r, { dev: 'rv0', subnet: '10.128.0.0/16', uplink }));
    t.true(await reaches(), 'gateway on: the member reaches the Internet (masqueraded: the Internet has no route back)');
    t.regex((await gw.exec('iptables', ['-t', 'nat', '-S', 'POSTROUTING'])).stdout, /ringvpn-gateway/);
    await nat.undo();
    t.false(await reaches(), 'gateway off: no more');
    t.is(await snapshot(), before, 'undo: netfilter and ip_forward exactly as before');

    await new OsJournal(run, state, 'gateway').apply((r) => gatewayChanges(r, { dev: 'rv0', subnet: '10.128.0.0/16', uplink }));
    t.true(await reaches());
    // killed before its undo: the next start undoes it
    const left = await new OsJournal(run, state, 'gateway').recover();
    t.is(left?.changes.length, 4, 'the state file named ip_forward and 3 rules');
    t.is(await snapshot(), before, 'after the kill and the next start: exactly as before');
    t.false(await reaches());
  } finally {
    await gw.destroy();
    await member.destroy();
    await inet.destroy();
  }
});
