// The full tunnel's routing plan and its bookkeeping, against a fake `ip`: the exact commands, the
// undo of each, a failure half-way undone, and a state file left by a killed run undone on the next start.
import test from 'ava';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tunnelChanges, tunnelCommands, undoCommand } from './tunnel-routes.js';
import { OsJournal, type Run } from './os-journal.js';

function fakeIp(failOn?: string): { run: Run; log: string[] } {
  const log: string[] = [];
  const run: Run = async (cmd, args) => {
    log.push(`${cmd} ${args.join(' ')}`);
    if (cmd === 'sysctl' && args[0] === '-n') return { code: 0, stdout: '0\n', stderr: '' };
    if (failOn && args.join(' ').includes(failOn)) return { code: 2, stdout: '', stderr: 'RTNETLINK answers: Operation not supported' };
    return { code: 0, stdout: '', stderr: '' };
  };
  return { run, log };
}

test('the plan: a default route in the tunnel table, not-fwmark and suppress_prefixlength rules, IPv6 unreachable', (t) => {
  t.deepEqual(tunnelCommands({ dev: 'rv0', gateway: '10.128.0.1' }).map((a) => a.join(' ')), [
    '-4 route replace blackhole default metric 4294967295 table 5256',
    '-4 route replace default via 10.128.0.1 dev rv0 onlink table 5256',
    '-4 rule add table main suppress_prefixlength 0 priority 31050',
    '-4 rule add not fwmark 0x5256 table 5256 priority 31051',
    '-6 route replace unreachable default table 5256',
    '-6 rule add table main suppress_prefixlength 0 priority 31050',
    '-6 rule add not fwmark 0x5256 table 5256 priority 31051',
  ]);
  t.deepEqual(undoCommand(['-4', 'rule', 'add', 'not', 'fwmark', '0x1', 'table', '7']), ['-4', 'rule', 'del', 'not', 'fwmark', '0x1', 'table', '7']);
  t.deepEqual(undoCommand(['-6', 'route', 'replace', 'unreachable', 'default', 'table', '7']), ['-6', 'route', 'del', 'unreachable', 'default', 'table', '7']);
});

test('the journal records before it changes; undo reverses exactly and restores the sysctl', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rv-tun-'));
  const state = join(dir, 'full-tunnel.json');
  const { run, log } = fakeIp();
  const j = new OsJournal(run, state, 'full tunnel');
  await j.apply((r) => tunnelChanges(r, { dev: 'rv0', gateway: '10.128.0.1' }));
  const saved = JSON.parse(readFileSync(state, 'utf8'));
  t.is(saved.changes.length, 8, 'the sysctl and 7 ip commands');
  t.deepEqual(saved.changes[0].undo.args, ['-qw', 'net.ipv4.conf.all.src_valid_mark=0'], 'the old value, to restore');
  log.length = 0;
  await j.undo();
  t.deepEqual(log, [
    'ip -6 rule del not fwmark 0x5256 table 5256 priority 31051',
    'ip -6 rule del table main suppress_prefixlength 0 priority 31050',
    'ip -6 route del unreachable default table 5256',
    'ip -4 rule del not fwmark 0x5256 table 5256 priority 31051',
    'ip -4 rule del table main suppress_prefixlength 0 priority 31050',
    'ip -4 route del default via 10.128.0.1 dev rv0 onlink table 5256',
    'ip -4 route del blackhole default metric 4294967295 table 5256',
    'sysctl -qw net.ipv4.conf.all.src_valid_mark=0',
  ]);
  t.false(existsSync(state));
});

test('a command that fails half-way: what was applied is undone and the error names the command', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rv-tun-'));
  const { run, log } = fakeIp('-6 route replace');
  const j = new OsJournal(run, join(dir, 's.json'), 'full tunnel');
  const e = await t.throwsAsync(j.apply((r) => tunnelChanges(r, { dev: 'rv0', gateway: '10.128.0.1' })));
  t.is((e as { code?: string }).code, 'E_OS_STATE');
  t.regex(e!.message, /full tunnel: ip -6 route replace unreachable default table 5256: RTNETLINK/);
  t.deepEqual(log.slice(log.indexOf('ip -6 route replace unreachable default table 5256') + 1), [
    'ip -4 rule del not fwmark 0x5256 table 5256 priority 31051',
    'ip -4 rule del table main suppress_prefixlength 0 priority 31050',
    'ip -4 route del default via 10.128.0.1 dev rv0 onlink table 5256',
    'ip -4 route del blackhole default metric 4294967295 table 5256',
    'sysctl -qw net.ipv4.conf.all.src_valid_mark=0',
  ]);
  t.false(existsSync(join(dir, 's.json')));
});

test('a state file left by a killed run is undone on the next start; an unreadable one is an error, not a guess', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rv-tun-'));
  const state = join(dir, 'full-tunnel.json');
  const first = fakeIp();
  await new OsJournal(first.run, state, 'full tunnel').apply((r) => tunnelChanges(r, { dev: 'rv0', gateway: '10.128.0.1' }));
  // killed: no undo. The next start:
  const next = fakeIp();
  const left = await new OsJournal(next.run, state, 'full tunnel').recover();
  t.is(left?.changes.length, 8);
  t.is(next.log.filter((l) => l.includes(' del ')).length, 7);
  t.false(existsSync(state));
  t.is(await new OsJournal(next.run, state, 'full tunnel').recover(), null, 'nothing left');
  writeFileSync(state, '{"changes": 3');
  const e = await t.throwsAsync(new OsJournal(next.run, state, 'full tunnel').recover());
  t.is((e as { code?: string }).code, 'E_OS_STATE');
});
