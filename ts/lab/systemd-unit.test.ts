// The example systemd unit (examples/systemd/ringvpn@.service) is one systemd accepts without a warning
// (systemd-analyze verify, its ExecStart pointed at this checkout's bin/ringvpn), and its credentials are
// read as the namespace test that runs daemons under them expects (tests/net/full-tunnel.test.ts).
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';
import { parseUnitCredentials, setprivArgs } from './systemd-unit.js';

const UNIT = join(repoRoot, 'examples/systemd/ringvpn@.service');

test('the example unit gives uid 0 only CAP_NET_ADMIN and CAP_NET_RAW, with no_new_privs', (t) => {
  const c = parseUnitCredentials(readFileSync(UNIT, 'utf8'));
  t.deepEqual(c, { user: null, bounding: ['net_admin', 'net_raw'], ambient: [], noNewPrivileges: true });
  t.deepEqual(setprivArgs(c), ['setpriv', '--inh-caps=-all', '--bounding-set=-all,+net_admin,+net_raw', '--no-new-privs', '--']);
  t.deepEqual(setprivArgs(parseUnitCredentials('[Service]\nUser=nobody\nAmbientCapabilities=CAP_NET_ADMIN\n')),
    ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all,+net_admin', '--ambient-caps=-all,+net_admin', '--']);
});

test('systemd-analyze verify accepts the example unit without a warning', (t) => {
  const has = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!has) {
    if (process.env.CI === 'true') t.fail('systemd-analyze is missing (apt-get install systemd; .ci/install-system-packages does)');
    else t.pass('skipped: systemd-analyze is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'rvunit-'));
  try {
    const unit = join(dir, 'ringvpn@home.service');
    writeFileSync(unit, readFileSync(UNIT, 'utf8').replace('/usr/bin/ringvpn', join(repoRoot, 'bin/ringvpn')));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.is(r.stderr.trim(), '', 'no warnings');
    t.regex(execFileSync('systemd-analyze', ['--version'], { encoding: 'utf8' }), /^systemd \d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
