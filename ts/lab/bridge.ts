// Owns a switched LAN of namespaces for the lab, the demo and the tests: one namespace holding a
// bridge and one host namespace per address. It must not touch the root namespace.
import { writeFileSync } from 'node:fs';
import { Netns, randomSuffix } from './netns.js';
import { mapLimit } from './util.js';
import { errors } from '../base/errors.js';

export class Lan {
  private constructor(readonly tag: string, readonly hub: Netns, readonly hosts: Netns[], readonly addresses: string[]) {}

  /**
   * `cidrs` like ['10.0.0.1/24', '10.0.0.2/24']; host i is named `${prefix}-${tag}-${i}`, the switch
   * `${prefix}-${tag}-sw`. `tag` defaults to a random suffix; a fixed one lets a later process find them.
   */
  static async create(prefix: string, cidrs: string[], mtu = 1500, tag = randomSuffix()): Promise<Lan> {
    const made: Netns[] = [];
    try {
      const hub = await Netns.create(`${prefix}-${tag}-sw`);
      made.push(hub);
      await hub.ip(['link', 'add', 'br0', 'type', 'bridge']);
      await hub.ip(['link', 'set', 'br0', 'up']);
      const hosts: Netns[] = [];
      for (const [i, cidr] of cidrs.entries()) {
        const h = await Netns.create(`${prefix}-${tag}-${i}`);
        made.push(h);
        hosts.push(h);
        await h.ip(['link', 'add', 'eth0', 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', `p${i}`, 'mtu', String(mtu), 'netns', hub.name]);
        await hub.ip(['link', 'set', `p${i}`, 'master', 'br0', 'up']);
        await h.ip(['addr', 'add', cidr, 'dev', 'eth0']);
        await h.ip(['link', 'set', 'eth0', 'up']);
      }
      return new Lan(tag, hub, hosts, cidrs.map((c) => c.split('/')[0]!));
    } catch (e) {
      for (const ns of made) await ns.destroy();
      throw e;
    }
  }

  host(i: number): Netns {
    const h = this.hosts[i];
    if (!h) throw errors.E_LAB_ARGS(`no host ${i}`);
    return h;
  }

  async destroy(): Promise<void> {
    for (const ns of [...this.hosts, this.hub]) await ns.destroy();
  }
}

/**
 * Fixed MACs and permanent neighbour entries on a switched underlay (host i at addresses[i], mac(i)),
 * written to `file` for `ip -batch`. The kernel's ARP cache is one table for all namespaces, capped by
 * gc_thresh3 (1024 unless the root namespace raises it); 64 nodes that talk to each other overflow it
 * (sendmsg: ENOBUFS). Permanent entries do not count toward the cap.
 */
export async function pinUnderlay(file: string, hosts: Netns[], addresses: string[], mac: (i: number) => string): Promise<void> {
  writeFileSync(file, addresses.map((a, i) => `neigh replace ${a} lladdr ${mac(i)} dev eth0 nud permanent\n`).join(''));
  await mapLimit(hosts, 8, async (ns, i) => {
    await ns.ip(['link', 'set', 'eth0', 'address', mac(i)]);
    await ns.ip(['-force', '-batch', file]);
  });
}
