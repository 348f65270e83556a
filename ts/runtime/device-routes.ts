// Owns which prefixes the OS routes through the device (site-to-site): a static mesh's peers' allowedIps,
// an overlay member's learned router-mode subnets. It hands the whole list to the engine (which adds and
// removes its own routes by netlink, crates/dataplane/src/routes.rs) when the list changes and again every
// RESYNC_MS (the kernel drops a device's routes when it loses its address). It must not decide routing
// inside the overlay (the VpnNode does) nor touch routes the engine did not make.
import { cidrContains, parseCidr } from '../base/ip.js';
import type { Logger } from '../base/log.js';
import type { Config } from '../config/schema.js';

/** The list is applied again this often (restored if the kernel dropped them). */
export const RESYNC_MS = 10_000;

/** A static mesh's routed prefixes beyond its own subnet (the peers' allowedIps; /0 is never an OS route here). */
export function meshRoutes(c: Config): string[] {
  const own = c.address ? parseCidr(c.address) : null;
  return c.peers.flatMap((p) => p.allowedIps).filter((x) => {
    const n = parseCidr(x);
    return n !== null && n.prefix > 0 && !(own && n.prefix >= own.prefix && cidrContains(own, n.address));
  });
}

export class DeviceRoutes {
  private key: string | null = null;
  private at = 0;

  /** `apply`: the engine's setRoutes ([added, removed, skipped]); `drop`: count a failure. */
  constructor(private readonly apply: (cidrs: string[]) => number[], private readonly log: Logger, private readonly drop: (k: string) => void) {}

  /** The prefixes to route now (null: the same as before, applied again). */
  set(now: number, cidrs: string[] | null): void {
    const key = cidrs === null ? this.key : [...new Set(cidrs)].sort().join(' ');
    if (key === null) return;
    const changed = key !== this.key;
    this.key = key;
    this.at = now + RESYNC_MS;
    try {
      const [added = 0, removed = 0, skipped = 0] = this.apply(key ? key.split(' ') : []);
      if (changed && (added || removed || skipped)) this.log.info({ routes: key || 'none', added, removed, skipped }, skipped ? 'OS routes through the device updated (prefixes the host routes already were left alone)' : 'OS routes through the device updated');
      else if (!changed && added) this.log.warn({ restored: added }, 'OS routes through the device were gone (the device lost its address?): restored');
    } catch (err) {
      this.drop('set_routes_failed');
      this.log.error({ err: (err as Error).message }, 'installing OS routes through the device failed (retried)');
    }
  }

  /** Heartbeat: apply the list again when due. */
  tick(now: number): void { if (now >= this.at) this.set(now, null); }
}
