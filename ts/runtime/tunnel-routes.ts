// Owns a full-tunnel client's OS routing (issue 14): the policy rules that send everything not marked by
// the engine's socket (its fwmark) through the device to the virtual gateway, while the engine's own UDP
// and local routes keep the main table (wg-quick's `not fwmark` + `suppress_prefixlength 0`), IPv6 blocked
// (an unreachable default) rather than leaked, no per-peer host routes. The changes (`tunnelChanges`) go through an OsJournal
// (undone exactly on stop, and on the next start after a kill). It must not choose the gateway or touch the
// firewall.
import { sysctlChange, type OsChange, type Run } from './os-journal.js';

/** The engine socket's fwmark: distinct from Tailscale's 0x80000/0xff0000, wg-quick's 0xca6c and NetBird's 0x1bd00. */
export const TUNNEL_MARK = 0x5256;
/** The routing table holding the tunnel's default route (Tailscale uses 52, wg-quick 51820). */
export const TUNNEL_TABLE = 5256;
/** Rule priorities: the main-table rule at PRIORITY, the tunnel rule right after; below main's 32766, away from Tailscale's 52xx. */
export const TUNNEL_PRIORITY = 31050;

export interface TunnelRoutes {
  /** the device (rv0) */
  dev: string;
  /** the virtual gateway address on the device (the service address) */
  gateway: string;
  mark?: number;
  table?: number;
  priority?: number;
}

/**
 * The tunnel's default route through the device. The kernel deletes it whenever the device loses its last
 * IPv4 address (an address change, a DHCP client's deconfig), so the daemon installs it again (`replace`)
 * after every address change and periodically; meanwhile the blackhole below it keeps traffic from leaking.
 */
export function tunnelRouteCommand(r: TunnelRoutes): string[] {
  // onlink: the device may not have its address (DHCP) yet
  return ['-4', 'route', 'replace', 'default', 'via', r.gateway, 'dev', r.dev, 'onlink', 'table', String(r.table ?? TUNNEL_TABLE)];
}

/** The `ip` commands that install a full tunnel, in order (pure). */
export function tunnelCommands(r: TunnelRoutes): string[][] {
  const mark = `0x${(r.mark ?? TUNNEL_MARK).toString(16)}`, table = String(r.table ?? TUNNEL_TABLE);
  const p = r.priority ?? TUNNEL_PRIORITY;
  const rules = (fam: string): string[][] => [
    // local and LAN routes of the main table still win; its default route does not
    [fam, 'rule', 'add', 'table', 'main', 'suppress_prefixlength', '0', 'priority', String(p)],
    // everything the engine did not mark: the tunnel's table
    [fam, 'rule', 'add', 'not', 'fwmark', mark, 'table', table, 'priority', String(p + 1)],
  ];
  return [
    // fail closed: while the device route is missing, unmarked IPv4 ends here instead of in the main table
    ['-4', 'route', 'replace', 'blackhole', 'default', 'metric', '4294967295', 'table', table],
    tunnelRouteCommand(r),
    ...rules('-4'),
    // IPv6 (the virtual network is IPv4): unreachable, never out of the underlay in clear
    ['-6', 'route', 'replace', 'unreachable', 'default', 'table', table],
    ...rules('-6'),
  ];
}

/** The command undoing one applied `ip` command (`add`/`replace` -> `del`). */
export function undoCommand(args: string[]): string[] {
  const i = args.findIndex((a) => a === 'add' || a === 'replace');
  return i < 0 ? args : [...args.slice(0, i), 'del', ...args.slice(i + 1)];
}

/** The changes of a full tunnel for `r`, for an OsJournal: the sysctl, then the `ip` commands. */
export async function tunnelChanges(run: Run, r: TunnelRoutes): Promise<OsChange[]> {
  return [
    // marked packets may arrive on an interface whose reverse path is another table (wg-quick does the same)
    await sysctlChange(run, 'net.ipv4.conf.all.src_valid_mark', '1'),
    ...tunnelCommands(r).map((args): OsChange => ({ cmd: 'ip', args, undo: { cmd: 'ip', args: undoCommand(args) } })),
  ];
}
