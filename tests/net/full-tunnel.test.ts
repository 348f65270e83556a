// Network test of the full tunnel (issue 14), end to end with real daemons: an "internet" namespace with an
// HTTP and a DNS server, two gateway members (group "net") with uplinks to it, a full-tunnel client in the
// group and one that is not. The client's traffic leaves through the gateway it chose (the server sees the
// gateway's address); its underlay carries only ringvpn frames to overlay peers; DNS and IPv6 do not leak;
// a member's packet with an outside source is dropped; killing the gateway in use moves new connections to
// the other within 3 s (measured); the client's OS state is exactly as before after a stop and after a kill.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { netTest } from './support.js';
import { RingLab } from '../../ts/lab/ringlab.js';
import type { Netns, NsProcess } from '../../ts/lab/netns.js';
import { sleep } from '../../ts/lab/util.js';
import { repoRoot } from '../../ts/paths.js';
import { Internet, INTERNET_SERVER as SERVER, INTERNET_SERVER6 as SERVER6, uplinkAddress } from '../../ts/lab/internet.js';
import type { TunnelStatus } from '../../ts/node/tunnel-client.js';
import { unitLaunch } from '../../ts/lab/systemd-unit.js';

const GA = 0, GB = 1, REFUSED = 3, CLIENT = 4;
const uplinkOf = (g: number): string => uplinkAddress(g === GA ? 0 : 1);

interface TunnelNodeStatus { tunnel?: TunnelStatus | null; drops?: Record<string, number>; links?: Record<string, number>; connections?: { path: string; endpoint: string | null }[]; listen?: string | null }

netTest('full tunnel: through the chosen gateway, nothing in clear on the underlay, no DNS or IPv6 leak, failover within 3 s, OS state restored', async (t) => {
  const name = 'f' + randomBytes(3).toString('hex');
  const lab = await RingLab.up({
    nodes: 5, reserve: 2, name, mode: 'tun', static: true, onProgress: (l) => t.log(l),
    // gateway A and the client run with examples/systemd/ringvpn@.service's credentials (uid 0 holding
    // only CAP_NET_ADMIN and CAP_NET_RAW, no_new_privs): the unit's privileges are enough for both roles
    launch: (i) => (i === GA || i === CLIENT ? unitLaunch(join(repoRoot, 'examples/systemd/ringvpn@.service')) : undefined),
    // the gateways also hold group "gw", which the clients require of a gateway (fullTunnel.gateways)
    pki: { cert: (i) => ({ sign: { groups: i === REFUSED ? ['guest'] : i === GA || i === GB ? ['net', 'gw'] : ['net'] } }) },
    edit: (cfg, i) => {
      if (i === GA || i === GB) cfg.gateway = { enable: true, uplink: 'up0', allow: ['net'] };
      // the client's device DNS forwards to the Internet's resolver (through the tunnel)
      if (i === CLIENT || i === REFUSED) cfg.fullTunnel = { enable: true, dns: [SERVER], gateways: ['gw'] };
    },
  });
  const inet = await Internet.up(name, [lab.node(GA).ns, lab.node(GB).ns]);
  const work = mkdtempSync(join(tmpdir(), 'rvft-'));
  const procs: NsProcess[] = [];
  try {
    await inet.serve();
    // the client's underlay also has IPv6 with a default route: the way an IPv6 leak would go
    const client = lab.node(CLIENT).ns;
    await client.exec('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0']);
    await client.ip(['-6', 'addr', 'add', '2001:db8:1::4/64', 'dev', 'eth0', 'nodad']);
    await client.ip(['-6', 'route', 'add', 'default', 'via', '2001:db8:1::1', 'dev', 'eth0']);
    const snapshot = async (): Promise<string> => (await Promise.all([
      client.ip(['-4', 'rule']), client.ip(['-6', 'rule']), client.ip(['-4', 'route', 'show', 'table', 'all']), client.ip(['-6', 'route', 'show', 'table', 'all']),
      client.exec('iptables-save'), client.exec('sysctl', ['-n', 'net.ipv4.conf.all.src_valid_mark']),
    ])).map((r) => r.stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n')).join('\n---\n');
    const before = await snapshot();
    await lab.start(REFUSED);
    await lab.start(CLIENT);
    t.regex((await client.ip(['-4', 'rule'])).stdout, /not from all fwmark 0x5256 lookup 5256/, 'the client installed its policy rules');
    for (const i of [GA, CLIENT]) {
      const caps = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${lab.node(i).pid}/status`, 'utf8'))?.[1];
      t.is(caps, '0000000000003000', `node${i} holds only CAP_NET_ADMIN and CAP_NET_RAW, as the systemd unit gives`);
    }

    const tunnelOf = async (i: number): Promise<TunnelStatus> => ((await lab.status(i)) as unknown as TunnelNodeStatus).tunnel!;
    const waitTunnel = async (i: number, ok: (s: TunnelStatus) => boolean, ms: number): Promise<TunnelStatus> => {
      let s = await tunnelOf(i);
      for (const end = Date.now() + ms; !ok(s) && Date.now() < end; s = await tunnelOf(i)) await sleep(500);
      return s;
    };
    const st = await waitTunnel(CLIENT, (s) => s.inUse !== null && s.warm !== null, 90_000);
    t.not(st.inUse, null, `the client chose a gateway (${JSON.stringify(st)})`);
    t.not(st.warm, null, 'and keeps the other warm');
    t.true(st.candidates.every((c) => c.trusted === true), 'both hold the group fullTunnel.gateways names');
    const gwIndex = (vip: string): number => [GA, GB].find((g) => lab.node(g).vip === vip)!;
    const inUse = gwIndex(st.inUse!.address);
    t.log(`client's gateway: node${inUse} (${st.inUse!.address}, RTT ${st.inUse!.rttMs} ms), warm: ${st.warm!.slice(0, 8)}`);

    const curl = async (ns: Netns, args: string[], timeoutS: number): Promise<{ code: number; out: string }> => {
      const r = await ns.exec('curl', ['-s', '--max-time', String(timeoutS), ...args], { allowFail: true, timeoutMs: (timeoutS + 5) * 1000 });
      return { code: r.code, out: r.stdout.trim() };
    };
    // --- through the gateway, and nothing in clear on the underlay
    const port = Number(new URL(`udp://${(await lab.status(CLIENT) as unknown as TunnelNodeStatus).listen}`).port) || 51820;
    const pcap = join(work, 'client.pcap');
    const dump = client.spawn('tcpdump', ['-i', 'eth0', '-n', '-U', '-w', pcap], { pipe: true });
    procs.push(dump);
    await sleep(1_000);
    const who = await curl(client, [`http://${SERVER}:8080/whoami`], 10);
    if (who.code !== 0) await diagnose(t.log.bind(t), lab, inUse);
    t.is(who.out, uplinkOf(inUse), `the server sees the gateway's uplink address (got "${who.out}", exit ${who.code})`);
    const t0 = Date.now();
    const dl = await curl(client, ['-o', '/dev/null', '-w', '%{size_download}', `http://${SERVER}:8080/bytes?n=${64 << 20}`], 60);
    t.is(dl.out, String(64 << 20), 'a 64 MiB download through the tunnel completes');
    t.log(`download: 64 MiB in ${Date.now() - t0} ms through the gateway`);
    const dnsQuery = `const s=require('dgram').createSocket('udp4');const q=Buffer.from('123401000001000000000000076578616d706c6503636f6d0000010001','hex');s.on('message',(m)=>{console.log(m.length+' '+m.readUInt16BE(2).toString(16));process.exit(0)});s.send(q,53,'${SERVER}');setTimeout(()=>{console.log('timeout');process.exit(1)},3000)`;
    const dns = await client.exec(process.execPath, ['-e', dnsQuery], { allowFail: true, timeoutMs: 10_000 });
    t.regex(dns.stdout, /^29 8180/, `a DNS query is answered through the tunnel (${dns.stdout.trim()})`);
    const service = '10.128.0.1';
    const viaService = await client.exec(process.execPath, ['-e', dnsQuery.replace(`'${SERVER}'`, `'${service}'`)], { allowFail: true, timeoutMs: 10_000 });
    t.regex(viaService.stdout, /^29 8180/, `the device's DNS (${service}) forwards an outside name to fullTunnel.dns, through the tunnel (${viaService.stdout.trim()})`);
    const v6 = await curl(client, ['-6', '--connect-timeout', '3', `http://[${SERVER6}]:8080/whoami`], 5);
    t.not(v6.code, 0, `IPv6 to the Internet fails (curl exit ${v6.code})`);
    await sleep(500);
    await dump.kill();
    const read = async (filter: string): Promise<string[]> => (await client.exec('tcpdump', ['-r', pcap, '-n', filter], { allowFail: true })).stdout.split('\n').filter(Boolean);
    const frames = await read(`udp port ${port}`);
    t.true(frames.length > 1000, `the capture holds the ringvpn frames (${frames.length})`);
    const clear = await read(`host ${SERVER} or port 53 or tcp port 8080 or (ip6 and not icmp6)`);
    t.deepEqual(clear.slice(0, 5), [], 'nothing to the server, no DNS, no HTTP and no IPv6 in clear on the underlay');
    const foreign = await read('ip and not (src net 10.200.0.0/16 and dst net 10.200.0.0/16)');
    t.deepEqual(foreign.slice(0, 5), [], 'every IPv4 packet on the underlay is between overlay peers');
    const dnsFrom = [...inet.originLog.matchAll(/"dns":true,"from":"([\d.]+)"/g)].map((m) => m[1]);
    t.deepEqual(dnsFrom, [uplinkOf(inUse), uplinkOf(inUse)], 'the DNS server saw both queries come from the gateway');
    const conns = ((await lab.status(CLIENT)) as unknown as TunnelNodeStatus).connections ?? [];
    t.true(conns.length > 0 && conns.every((c) => c.path === 'direct'), `overlay links stay direct: ${JSON.stringify(conns.map((c) => c.path))}`);

    // --- a member outside the gateways' policy is refused; its Internet traffic goes nowhere
    const refused = await waitTunnel(REFUSED, (s) => s.candidates.length === 2 && s.candidates.every((c) => c.admitted === false), 30_000);
    t.true(refused.candidates.length === 2 && refused.candidates.every((c) => c.admitted === false), `both gateways refuse node${REFUSED} (${JSON.stringify(refused.candidates)})`);
    t.is(refused.inUse, null);
    t.not((await curl(lab.node(REFUSED).ns, [`http://${SERVER}:8080/whoami`], 3)).code, 0, 'its request to the Internet fails');

    // --- a member that is not a gateway sends the client a packet with an outside source: dropped, counted
    const dropsOf = async (): Promise<Record<string, number>> => ((await lab.status(CLIENT)) as unknown as TunnelNodeStatus).drops ?? {};
    const d0 = await dropsOf();
    await lab.node(REFUSED).ns.ip(['addr', 'add', '198.51.100.77/32', 'dev', 'rv0']);
    const spoof = await lab.node(REFUSED).ns.exec('ping', ['-n', '-c', '5', '-i', '0.2', '-W', '1', '-I', '198.51.100.77', lab.node(CLIENT).vip!], { allowFail: true, timeoutMs: 15_000 });
    t.regex(spoof.stdout, / 0 received/, 'the client answers none of them');
    await sleep(6_000);
    const d1 = await dropsOf();
    const grew = Object.keys(d1).filter((k) => (d1[k] ?? 0) > (d0[k] ?? 0)).map((k) => `${k} +${(d1[k] ?? 0) - (d0[k] ?? 0)}`);
    t.log(`client drops after the spoofed pings: ${grew.join(', ')}`);
    t.true(((d1.source_not_allowed ?? 0) - (d0.source_not_allowed ?? 0)) >= 5, `each is dropped as source_not_allowed (${grew.join(', ')})`);

    // --- kill the gateway in use during a long download
    const slow = curl(client, ['-o', '/dev/null', '-w', '%{size_download} %{http_code}', `http://${SERVER}:8080/slow?s=20`], 30);
    await sleep(3_000);
    const now = await tunnelOf(CLIENT);
    const victim = gwIndex(now.inUse!.address), other = victim === GA ? GB : GA;
    await lab.kill(victim, 'SIGKILL');
    const killedAt = Date.now();
    let okAt: number | null = null, okStart = 0, answer = '';
    const attempts: string[] = [];
    while (okAt === null && Date.now() - killedAt < 15_000) {
      const s0 = Date.now();
      const r = await curl(client, ['--connect-timeout', '0.5', `http://${SERVER}:8080/whoami`], 1);
      attempts.push(`${s0 - killedAt}:${r.code}`);
      if (r.code === 0) { okAt = Date.now(); okStart = s0; answer = r.out; }
    }
    t.not(okAt, null, `a new connection succeeds after node${victim} died (attempts: ${attempts.join(' ')})`);
    const after = await tunnelOf(CLIENT);
    t.log(`failover: node${victim} killed; the first new connection opened ${okStart - killedAt} ms later succeeded (answered at ${okAt! - killedAt} ms; attempts ms:exit ${attempts.join(' ')}); the client declared it dead after ${after.lastFailover?.silentMs} ms of silence`);
    t.true(okStart - killedAt <= 3_000, `new connections work within 3 s (${okStart - killedAt} ms)`);
    t.is(answer, uplinkOf(other), 'through the other gateway');
    const fate = await slow;
    t.log(`the download under way when its gateway died: curl exit ${fate.code}, ${fate.out} (bytes, HTTP status)`);

    // --- the client's OS state after a stop, and after a kill plus the next start
    const down = await client.exec(join(repoRoot, 'bin/ringvpn'), ['down', '--socket', lab.node(CLIENT).socket], { allowFail: true, timeoutMs: 20_000 });
    t.regex(down.stdout, /^stopped/, `ringvpn down stops the client (${down.stderr.trim()})`);
    for (let i = 0; i < 50 && lab.alive(CLIENT); i++) await sleep(100);
    t.false(lab.alive(CLIENT), 'its process is gone');
    t.is(await snapshot(), before, 'stopped: routes, rules, firewall and sysctl exactly as before');
    await lab.start(CLIENT);
    await lab.kill(CLIENT, 'SIGKILL');
    t.not(await snapshot(), before, 'killed: its rules are still there');
    await lab.start(CLIENT);
    await lab.kill(CLIENT, 'SIGTERM');
    t.is(await snapshot(), before, 'the next start undid them; stopped again: exactly as before');
  } finally {
    for (const p of procs) await p.kill();
    await lab.down();
    await inet.down();
    rmSync(work, { recursive: true, force: true });
  }
});

/** What a failed step needs to be understood: the client's route and drops, the gateway's counters and NAT rules. */
async function diagnose(log: (...a: unknown[]) => void, lab: RingLab, gw: number): Promise<void> {
  const c = lab.node(CLIENT).ns, g = lab.node(gw).ns;
  for (const args of [['route', 'get', SERVER], ['route', 'show', 'table', '5256'], ['rule'], ['-br', 'addr']]) {
    const r = await c.ip(args, { allowFail: true });
    log(`ip ${args.join(' ')}: ${(r.stdout + r.stderr).trim()}`);
  }
  const cs = await lab.status(CLIENT) as unknown as { drops?: Record<string, number>; dataPeers?: unknown; node?: Record<string, number>; connections?: { short: string; dataplane: unknown }[] };
  log('client drops', JSON.stringify(Object.fromEntries(Object.entries(cs.drops ?? {}).filter(([, v]) => v))), 'data peers', JSON.stringify(cs.dataPeers), 'connections', JSON.stringify(cs.connections?.map((x) => [x.short, x.dataplane])));
  log('client tunnel counters', JSON.stringify(Object.fromEntries(Object.entries(cs.node ?? {}).filter(([k]) => /tunnel|miss|gateway/.test(k)))));
  const gs = await lab.status(gw) as unknown as { drops?: unknown; dataPeers?: unknown };
  log('gateway drops', JSON.stringify(gs.drops), 'data peers', JSON.stringify(gs.dataPeers));
  log((await g.exec('iptables', ['-t', 'nat', '-S', '-v'], { allowFail: true })).stdout.trim());
  log((await g.exec('iptables', ['-S', 'FORWARD', '-v'], { allowFail: true })).stdout.trim());
}
