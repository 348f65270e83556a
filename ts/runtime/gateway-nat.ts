// Owns a gateway's OS side (issue 14, paper §4.2: "use existing NAT"): IP forwarding on, and netfilter rules
// that forward the virtual subnet's packets out of the uplink with masquerade and let the replies back in.
// The changes (`gatewayChanges`) go through an OsJournal (undone exactly on stop, and on the next start after a kill). It must
// not decide which members may use the gateway (the data plane's gateway rule does) or announce it.
import { errors } from '../base/errors.js';
import { sysctlChange, type OsChange, type Run } from './os-journal.js';

/** Every rule carries this comment, so an operator sees whose it is (`iptables -S`, `iptables -t nat -S`). */
export const GATEWAY_COMMENT = 'ringvpn-gateway';

export interface GatewayNat {
  /** the device (rv0) */
  dev: string;
  /** the virtual subnet (CIDR) */
  subnet: string;
  /** the interface towards the Internet */
  uplink: string;
}

/** The iptables rules of a gateway, in order (pure). */
export function gatewayRules(g: GatewayNat): string[][] {
  const tag = ['-m', 'comment', '--comment', GATEWAY_COMMENT];
  return [
    ['-t', 'nat', '-A', 'POSTROUTING', '-s', g.subnet, '-o', g.uplink, ...tag, '-j', 'MASQUERADE'],
    // first in FORWARD, ahead of a host firewall's own rules and policy
    ['-I', 'FORWARD', '1', '-i', g.dev, '-o', g.uplink, '-s', g.subnet, ...tag, '-j', 'ACCEPT'],
    ['-I', 'FORWARD', '1', '-i', g.uplink, '-o', g.dev, '-d', g.subnet, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT'],
  ];
}

/** The command deleting the rule one iptables command added (`-A CHAIN` / `-I CHAIN n` -> `-D CHAIN`). */
export function deleteRule(args: string[]): string[] {
  const i = args.findIndex((a) => a === '-A' || a === '-I');
  if (i < 0) return args;
  const rest = args.slice(i + 2);
  return [...args.slice(0, i), '-D', args[i + 1]!, ...(args[i] === '-I' && /^\d+$/.test(rest[0] ?? '') ? rest.slice(1) : rest)];
}

/** The uplink: the device of the main table's IPv4 default route. */
export async function defaultUplink(run: Run): Promise<string> {
  const r = await run('ip', ['-4', 'route', 'show', 'default']);
  const dev = /\bdev (\S+)/.exec(r.stdout)?.[1];
  if (r.code !== 0 || !dev) throw errors.E_OS_STATE(`gateway: no IPv4 default route to forward through (ip -4 route show default: ${(r.stdout + r.stderr).trim() || 'empty'}); set gateway.uplink`);
  return dev;
}

/** The changes of a gateway, for an OsJournal: forwarding on, then the rules. */
export async function gatewayChanges(run: Run, g: GatewayNat): Promise<OsChange[]> {
  return [
    await sysctlChange(run, 'net.ipv4.ip_forward', '1'),
    ...gatewayRules(g).map((args): OsChange => ({ cmd: 'iptables', args: ['-w', ...args], undo: { cmd: 'iptables', args: ['-w', ...deleteRule(args)] } })),
  ];
}
