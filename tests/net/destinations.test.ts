// Network test of the data plane's destination rule (issue 14's gateway rule, its refusing half): an
// authenticated member whose data plane routes a foreign prefix to every peer (tests/net/rogue-member.ts
// --route) tries to reach the LAN behind its peers' hosts (203.0.113.1 on a veth in each
// member's namespace, IP forwarding on). Every member drops those packets (`dst_not_allowed`) instead
// of writing them to its device, while the rogue's ordinary traffic to the virtual LAN still works.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { netTest } from './support.js';
import { RingLab } from '../../ts/lab/ringlab.js';
import { sleep } from '../../ts/lab/util.js';
import { repoRoot } from '../../ts/paths.js';
import type { NsProcess } from '../../ts/lab/netns.js';

const LAN = '203.0.113.0/24', HOST = '203.0.113.1';

netTest('a member cannot reach the LAN or the Internet behind another member\'s host (dst_not_allowed), in TAP and TUN', async (t) => {
  for (const mode of ['tap', 'tun'] as const) {
    const name = 'd' + randomBytes(3).toString('hex');
    const lab = await RingLab.up({ nodes: 4, reserve: 1, name, mode, static: true });
    let proc: NsProcess | undefined;
    try {
      const members = [0, 1, 2];
      for (const i of members) {
        const ns = lab.node(i).ns;
        // a veth pair inside the namespace stands for the host's LAN (this kernel has no dummy)
        await ns.ip(['link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1']);
        await ns.ip(['addr', 'add', `${HOST}/24`, 'dev', 'lan0']);
        await ns.ip(['link', 'set', 'lan0', 'up']);
        await ns.ip(['link', 'set', 'lan1', 'up']);
        await ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      }
      const rogue = lab.node(3);
      proc = rogue.ns.spawn(process.execPath, ['--import', join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs'), join(repoRoot, 'tests/net/rogue-member.ts'), rogue.config, '0', '--route', LAN], { pipe: true, cwd: repoRoot });
      let out = '';
      proc.child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
      for (let i = 0; i < 900 && !out.includes('\n') && !proc.hasExited(); i++) await sleep(100);
      t.true(out.includes('\n'), `${mode}: the rogue joined the ring (${out.trim() || 'no output'})`);
      const drops = async (): Promise<number> => {
        let n = 0;
        for (const i of members) n += ((await lab.status(i)) as unknown as { drops?: Record<string, number> }).drops?.dst_not_allowed ?? 0;
        return n;
      };
      // the rogue is a working member: it reaches a member's virtual address
      const vip = lab.node(0).vip!;
      let reached = false;
      for (let k = 0; k < 10 && !reached; k++) {
        const ok = await rogue.ns.exec('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '1', vip], { allowFail: true, timeoutMs: 10_000 });
        reached = /[1-9]\d* received/.test(String(ok.stdout));
        if (!reached) await sleep(2_000);
      }
      const addr = (await rogue.ns.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'rv0'], { allowFail: true })).stdout.trim();
      t.true(reached, `${mode}: the rogue (${addr || 'no address'}) pings ${vip}`);
      // (after the daemon configured its device, which takes the device's routes with it)
      await rogue.ns.ip(['route', 'replace', LAN, 'dev', 'rv0']);
      const before = await drops();
      const r = await rogue.ns.exec('ping', ['-n', '-c', '10', '-i', '0.2', '-W', '1', HOST], { allowFail: true, timeoutMs: 20_000 });
      const after = await drops();
      t.log(`${mode}: ping ${HOST} from the rogue (exit ${r.code}): ${/(\d+) received/.exec(String(r.stdout))?.[0] ?? (String(r.stdout).trim() + String(r.stderr).trim())}; members' dst_not_allowed ${before} -> ${after}`);
      t.regex(String(r.stdout), / 0 received/, `${mode}: no reply from a member's host LAN`);
      t.true(after - before >= 10, `${mode}: the members dropped and counted the 10 packets (${after - before})`);
    } finally {
      await proc?.kill();
      await lab.down();
    }
  }
});
