// A gateway's netfilter rules and their exact deletion (pure), and the journal through a fake `iptables`.
import test from 'ava';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayChanges, defaultUplink, deleteRule, gatewayRules } from './gateway-nat.js';
import { OsJournal, type Run } from './os-journal.js';

test('the rules: masquerade out of the uplink, forward out and the replies back; each deleted by its own spec', (t) => {
  const rules = gatewayRules({ dev: 'rv0', subnet: '10.128.0.0/16', uplink: 'eth0' });
  t.deepEqual(rules.map((r) => r.join(' ')), [
    '-t nat -A POSTROUTING -s 10.128.0.0/16 -o eth0 -m comment --comment ringvpn-gateway -j MASQUERADE',
    '-I FORWARD 1 -i rv0 -o eth0 -s 10.128.0.0/16 -m comment --comment ringvpn-gateway -j ACCEPT',
    '-I FORWARD 1 -i eth0 -o rv0 -d 10.128.0.0/16 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment ringvpn-gateway -j ACCEPT',
  ]);
  t.deepEqual(rules.map((r) => deleteRule(r).join(' ')), [
    '-t nat -D POSTROUTING -s 10.128.0.0/16 -o eth0 -m comment --comment ringvpn-gateway -j MASQUERADE',
    '-D FORWARD -i rv0 -o eth0 -s 10.128.0.0/16 -m comment --comment ringvpn-gateway -j ACCEPT',
    '-D FORWARD -i eth0 -o rv0 -d 10.128.0.0/16 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment ringvpn-gateway -j ACCEPT',
  ]);
});

test('apply and undo through the journal; the uplink from the default route, or a clear error', async (t) => {
  const log: string[] = [];
  let route = 'default via 172.31.0.1 dev u0 \n';
  const run: Run = async (cmd, args) => {
    log.push(`${cmd} ${args.join(' ')}`);
    if (cmd === 'sysctl' && args[0] === '-n') return { code: 0, stdout: '0\n', stderr: '' };
    if (cmd === 'ip') return { code: 0, stdout: route, stderr: '' };
    return { code: 0, stdout: '', stderr: '' };
  };
  t.is(await defaultUplink(run), 'u0');
  const state = join(mkdtempSync(join(tmpdir(), 'rv-gw-')), 'gateway.json');
  const g = new OsJournal(run, state, 'gateway');
  await g.apply((r) => gatewayChanges(r, { dev: 'rv0', subnet: '10.128.0.0/16', uplink: 'u0' }));
  t.true(existsSync(state));
  t.true(log.includes('sysctl -qw net.ipv4.ip_forward=1'));
  log.length = 0;
  await g.undo();
  t.is(log.length, 4);
  t.true(log.slice(0, 3).every((l) => l.startsWith('iptables -w ') && l.includes(' -D ')));
  t.is(log[3], 'sysctl -qw net.ipv4.ip_forward=0');
  t.false(existsSync(state));
  route = '';
  const e = await t.throwsAsync(defaultUplink(run));
  t.is((e as { code?: string }).code, 'E_OS_STATE');
  t.regex(e!.message, /set gateway\.uplink/);
});
