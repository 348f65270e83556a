// Network test of a gateway member (issue 14, the gateway side): node0 runs with gateway.enable and an uplink
// to an "internet" namespace that has no route back to the virtual subnet. A member whose data plane routes
// the Internet prefix to node0 (tests/net/rogue-member.ts --route, standing in for the full-tunnel client
// still to come) gets replies, so node0 forwarded and masqueraded them; node0's netfilter rules and
// ip_forward are gone after it stops, and after a SIGKILL they are undone by its next start.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { netTest } from './support.js';
import { RingLab } from '../../ts/lab/ringlab.js';
import { sleep } from '../../ts/lab/util.js';
import { repoRoot } from '../../ts/paths.js';
import type { NsProcess } from '../../ts/lab/netns.js';

const INTERNET = '198.51.100.0/24', SERVER = '198.51.100.1';

netTest('a gateway member forwards and masquerades a member\'s Internet traffic; its rules are undone on stop and after a SIGKILL', async (t) => {
  const name = 'g' + randomBytes(3).toString('hex');
  const lab = await RingLab.up({
    nodes: 4, reserve: 1, name, mode: 'tun', static: true,
    edit: (cfg, i) => { if (i === 0) cfg.gateway = { enable: true, uplink: 'up0' }; },
  });
  let proc: NsProcess | undefined;
  const inet = await (await import('../../ts/lab/netns.js')).Netns.create(`rvgi-${name}`);
  try {
    const gw = lab.node(0).ns;
    await gw.ip(['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1', 'netns', inet.name]);
    await gw.ip(['addr', 'add', '198.51.100.2/24', 'dev', 'up0']);
    await gw.ip(['link', 'set', 'up0', 'up']);
    await inet.ip(['addr', 'add', `${SERVER}/24`, 'dev', 'up1']);
    await inet.ip(['link', 'set', 'up1', 'up']);
    const rules = async (): Promise<string> => (await gw.exec('iptables-save')).stdout.split('\n').filter((l) => l.includes('ringvpn-gateway')).join('\n');
    const forward = async (): Promise<string> => (await gw.exec('sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim();
    t.regex(await rules(), /MASQUERADE/, 'the gateway added its masquerade rule');
    t.is(await forward(), '1');

    const rogue = lab.node(3);
    proc = rogue.ns.spawn(process.execPath, ['--import', join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs'), join(repoRoot, 'tests/net/rogue-member.ts'), rogue.config, '0', '--route', `${INTERNET}@${lab.node(0).nodeId}`], { pipe: true, cwd: repoRoot });
    let out = '';
    proc.child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    for (let i = 0; i < 900 && !out.includes('\n') && !proc.hasExited(); i++) await sleep(100);
    t.true(out.includes('\n'), `the client member joined (${out.trim() || 'no output'})`);
    const vip0 = lab.node(0).vip!;
    let reached = false;
    for (let k = 0; k < 15 && !reached; k++) {
      reached = /[1-9]\d* received/.test((await rogue.ns.exec('ping', ['-n', '-c', '2', '-i', '0.2', '-W', '1', vip0], { allowFail: true })).stdout);
      if (!reached) await sleep(2_000);
    }
    t.true(reached, `the client reaches the gateway's virtual address ${vip0}`);
    await rogue.ns.ip(['route', 'replace', INTERNET, 'dev', 'rv0']);
    const r = await rogue.ns.exec('ping', ['-n', '-c', '5', '-i', '0.2', '-W', '1', SERVER], { allowFail: true, timeoutMs: 15_000 });
    t.log(`client -> ${SERVER} through the gateway: ${/\d+ received/.exec(r.stdout)?.[0] ?? (r.stdout + r.stderr).trim()}`);
    t.regex(r.stdout, /[1-9]\d* received/, 'the Internet answers (it has no route to the virtual subnet: masqueraded)');
    const st = await lab.status(0) as unknown as { drops?: Record<string, number>; gateway?: { uplink: string; allow: string[] } | null };
    t.is(st.drops?.dst_not_allowed ?? 0, 0, 'the gateway refused none of it');
    t.deepEqual(st.gateway, { uplink: 'up0', allow: ['*'] }, 'status shows the gateway');
    const human = await gw.exec(join(repoRoot, 'bin/ringvpn'), ['status', '--socket', lab.node(0).socket], { allowFail: true });
    t.regex(human.stdout, /gateway: on, out of up0 with masquerade, for every member; listed in the DHT/, `and \`ringvpn status\` says so (${human.stderr.trim()})`);
    const check = await gw.exec(join(repoRoot, 'bin/ringvpn'), ['netcheck', '--socket', lab.node(0).socket], { allowFail: true });
    t.regex(check.stdout, /^nat: /m, `\`ringvpn netcheck\` renders (${check.stderr.trim()})`);
    // `ringvpn ping` by name, by address and by node id: answers, hops and the path
    for (const target of ['node2', lab.node(2).vip!, lab.node(2).nodeId]) {
      const ping = await gw.exec(join(repoRoot, 'bin/ringvpn'), ['ping', target, '-n', '3', '--socket', lab.node(0).socket], { allowFail: true, timeoutMs: 30_000 });
      t.log(ping.stdout.trim());
      t.regex(ping.stdout, new RegExp(`^PING ${target.replace(/\./g, '\\.')} \\(${lab.node(2).vip!.replace(/\./g, '\\.')}, node ${lab.node(2).nodeId.slice(0, 8)}\\)`, 'm'), `ringvpn ping ${target} (${ping.stderr.trim()})`);
      t.regex(ping.stdout, /^3\/3 answered; path now (direct|relay via|overlay)/m);
    }
    const nobody = await gw.exec(join(repoRoot, 'bin/ringvpn'), ['ping', 'nobody-here', '--socket', lab.node(0).socket], { allowFail: true, timeoutMs: 30_000 });
    t.regex(nobody.stderr, /E_NOT_FOUND: no member is named "nobody-here"/);

    await lab.kill(0, 'SIGTERM');
    t.is(await rules(), '', 'stopped: no rule left');
    t.is(await forward(), '0', 'stopped: ip_forward as before');
    await lab.start(0);
    t.regex(await rules(), /MASQUERADE/);
    await lab.kill(0, 'SIGKILL');
    t.regex(await rules(), /MASQUERADE/, 'killed: the rules are still there');
    await lab.start(0);
    const twice = (await rules()).split('\n').filter((l) => l.includes('MASQUERADE')).length;
    t.is(twice, 1, 'the next start undid the killed run\'s rules before adding its own');
    await lab.kill(0, 'SIGTERM');
    t.is(await rules(), '');
    t.is(await forward(), '0');
  } finally {
    await proc?.kill();
    await lab.down();
    await inet.destroy();
  }
});
