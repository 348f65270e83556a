// Network test of running without root: `ringvpn up` as an ordinary user (nobody) holding only
// CAP_NET_ADMIN, as examples/systemd/ringvpn@.service runs it, makes its device, takes its address,
// handshakes and carries traffic to a root-run peer; without the capability it refuses with E_NOT_ROOT.
import { netTest } from './support.js';
import { MeshLab } from '../../ts/lab/mesh-lab.js';
import { ping } from '../../ts/lab/util.js';
import { ringvpnArgv } from '../../ts/paths.js';
import { setprivArgs } from '../../ts/lab/systemd-unit.js';

const NOBODY = 65534;

netTest('a daemon run as nobody with only CAP_NET_ADMIN comes up and carries traffic; without the capability it says what it needs', async (t) => {
  const lab = await MeshLab.create(2, { mode: 'tun', prefix: 'rvc' });
  try {
    const [cmd, ...args] = ringvpnArgv;
    const [setpriv, ...drop] = setprivArgs({ user: String(NOBODY), bounding: [], ambient: [], noNewPrivileges: false });
    const bare = await lab.node(1).ns.exec(setpriv!, [...drop, cmd!, ...args, 'up', '--config', '/nonexistent.json'], { allowFail: true });
    t.is(bare.code, 77, 'exit code 77');
    t.regex(bare.stderr, /E_NOT_ROOT: ringvpn up creates a network device and needs CAP_NET_ADMIN/, 'the error names the capability');
    t.log(`without the capability: ${bare.stderr.trim()}`);
    await lab.start(0);
    await lab.start(1, 20_000, { asUser: NOBODY });
    await lab.waitForSessions(0);
    t.is(await ping(lab.node(1).ns, '10.99.0.1', 3), 3, 'the unprivileged node reaches its peer');
    t.is(await ping(lab.node(0).ns, '10.99.0.2', 3), 3, 'and is reached');
    const ps = await lab.node(1).ns.exec('ps', ['-o', 'user=,comm=', '-p', String(lab.node(1).proc!.pid)], { allowFail: true });
    t.regex(ps.stdout, /^nobody\s/m, `the daemon runs as nobody (${ps.stdout.trim()})`);
  } finally {
    await lab.destroy();
  }
});
