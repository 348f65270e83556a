// Owns what a reload (SIGHUP, or the library's reload) changes in a running daemon: it compares the old
// and the new config, applies what can change while running through the node, and names the rest as
// needing a restart. It must not read the config file (the caller parsed it) nor keep state of its own.
import type { Config } from '../config/schema.js';
import type { Logger } from '../base/log.js';
import type { VpnNode } from '../node/vpn-node.js';
import { meshRoutes } from './device-routes.js';
import type { Membership } from './membership.js';

/** What a reload needs from the daemon. */
export interface ReloadHost {
  readonly node: VpnNode;
  /** a private group's membership (certificate and CRL files), absent outside one */
  readonly membership: Membership | undefined;
  readonly log: Logger;
  now(): number;
  /** hand the node's commands to the engine */
  flush(): void;
  /** the OS routes through the device (a static mesh's peers' allowedIps) */
  setOsRoutes(cidrs: string[]): void;
}

/**
 * The config keys a reload applies, or that are compared by what they mean (the key's bytes, not where they
 * came from). Every other top-level key, present now or added later, is reported as needing a restart.
 */
const LIVE = new Set(['log', 'peers', 'privateKey', 'privateKeyFile', 'privateKeyBytes', 'publicKeyBytes']);

/** The top-level keys that differ between two configs and that a running daemon cannot change. */
export function fixedChanges(old: Config, next: Config): string[] {
  const keys = [...new Set([...Object.keys(old), ...Object.keys(next)])].filter((k) => !LIVE.has(k)).sort();
  return keys.filter((k) => !same((old as Record<string, unknown>)[k], (next as Record<string, unknown>)[k]));
}

/** A subnet to announce that our certificate does not list (none outside a private group). */
export function uncertifiedRoute(routes: string[], group: { own: { subnets: string[] } } | undefined): string | undefined {
  return group ? routes.find((r) => !group.own.subnets.includes(r)) : undefined;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Apply what can change while running — the log level, a static mesh's peers (sessions of peers that stay
 * are kept), a router's announced subnets (network.routes), our certificate (pki.cert read again: a renewed
 * one with the same address and subnets), the CRL (read now) — and name what needs a restart. `config` is
 * the config now in force (the old one with what was applied).
 */
export function applyReload(h: ReloadHost, old: Config, next: Config): { applied: string[]; restartNeeded: string[]; config: Config } {
  const applied: string[] = [];
  const routesOnly = !!old.network && !!next.network && !same(old.network.routes, next.network.routes)
    && same({ ...old.network, routes: [] }, { ...next.network, routes: [] });
  const restartNeeded: string[] = fixedChanges(old, next).filter((k) => !(k === 'network' && routesOnly));
  if (Buffer.compare(Buffer.from(old.privateKeyBytes), Buffer.from(next.privateKeyBytes)) !== 0) restartNeeded.unshift('privateKey');
  if (next.log.level !== old.log.level) {
    (h.log as { level?: string }).level = next.log.level;
    applied.push(`log.level ${next.log.level}`);
  }
  if (!old.network && !next.network && !same(old.peers, next.peers)) {
    const r = h.node.setPeers(h.now(), next.peers.map((p) => ({ publicKey: p.publicKeyBytes, endpoint: p.endpoint ?? null, allowed: [`${p.address}/32`, ...p.allowedIps] })));
    applied.push(`peers: ${r.added} added, ${r.removed} removed, ${r.changed} changed`);
    h.flush();
    h.setOsRoutes(meshRoutes(next));
  }
  const group = h.membership;
  if (group && same(old.pki, next.pki)) {
    const r = group.rereadCert();
    if (r.ok && r.changed) applied.push('certificate replaced');
    else if (!r.ok) {
      restartNeeded.push(r.code === 'E_RESTART_NEEDED' ? 'pki.cert' : 'pki.cert (refused)');
      h.log.warn({ code: r.code, err: r.message }, 'certificate not replaced');
    }
  }
  let routes = old.network?.routes;
  if (routesOnly) {
    const bad = uncertifiedRoute(next.network!.routes, group);
    if (bad !== undefined) {
      restartNeeded.push('network.routes (refused)');
      h.log.warn({ route: bad, subnets: group?.own.subnets }, 'network.routes not changed: a subnet is not among those of our certificate');
    } else {
      const r = h.node.setRoutes(h.now(), next.network!.routes);
      applied.push(`routes: ${r.added.length} added, ${r.removed.length} withdrawn`);
      routes = next.network!.routes;
      h.flush();
    }
  }
  if (group?.rereadCrl()) applied.push('CRL read again');
  h.log.info({ applied, restartNeeded }, restartNeeded.length ? 'reloaded; some changes need a restart' : 'reloaded');
  const config: Config = { ...old, log: next.log, peers: next.peers, ...(old.network && routes ? { network: { ...old.network, routes } } : {}) };
  return { applied, restartNeeded, config };
}
