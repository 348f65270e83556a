// Owns `ringvpn ping <name|address|node id>` on the daemon's side: resolve the target (a DNS name and a
// virtual address through the DHT, a node id as given), send echoes through the overlay one after another,
// and report each one's round trip and hops with the path the node holds to the target after it (direct,
// relay, or none: overlay routing). It must not change what the node decides: the echoes are ordinary
// overlay traffic (which asks for an on-demand link, as any traffic does).
import { idFromHex, idShort, idToHex, type NodeId } from '../base/nodeid.js';
import { ipFamily } from '../base/ip.js';
import { errors } from '../base/errors.js';
import type { EchoResult, VpnNode } from '../node/vpn-node.js';

export interface PingReport {
  target: string;
  nodeId: string;
  address: string | null;
  echoes: Array<(EchoResult & { path: string }) | null>;
  /** the node's path to the target after the last echo, and how long its direct or relay link has been up */
  path: string;
  linkUpMs: number | null;
}

const ECHO_TIMEOUT_MS = 2_000;

/** The path the node holds to `id` now: `direct <endpoint>`, `relay via <node>`, or `overlay` (routed hop by hop). */
export function pathTo(node: VpnNode, id: NodeId): string {
  const p = node.links.peerOf(id);
  if (p?.established && p.relay !== null) return `relay via ${idShort(node.links.peers.get(p.relay)?.nodeId ?? 0n)}`;
  if (p?.established && p.endpoint) return `direct ${p.endpoint}`;
  return 'overlay';
}

export async function pingTarget(node: VpnNode, now: () => number, flush: () => void, target: string, count: number, intervalMs: number): Promise<PingReport> {
  if (!node.overlay || !node.lan) throw errors.E_BAD_REQUEST('ping needs an overlay-mode daemon (a static mesh: use the OS ping on the peers\' addresses)');
  const lan = node.lan;
  const lookupName = (name: string): Promise<string | null> => new Promise((resolve) => { node.lookupName(now(), name.replace(new RegExp(`\\.${lan.status().domain}\\.?$`), ''), resolve); flush(); });
  const resolveIp = (ip: string): Promise<NodeId | null> => new Promise((resolve) => { lan.at(now()).resolve(ip, (r) => resolve(r?.node ?? null)); flush(); });
  let id: NodeId | null = /^[0-9a-f]{40}$/i.test(target) ? idFromHex(target.toLowerCase()) : null;
  let address: string | null = null;
  if (id === null) {
    address = ipFamily(target) === 4 ? target : await lookupName(target);
    if (!address) throw errors.E_NOT_FOUND(`no member is named ${JSON.stringify(target)} in network ${lan.status().domain}`);
    id = address === lan.address ? node.self : await resolveIp(address);
    if (id === null) throw errors.E_NOT_FOUND(`no member holds ${address}`);
  }
  const echoes: PingReport['echoes'] = [];
  for (let i = 0; i < count; i++) {
    if (i) await new Promise((r) => setTimeout(r, intervalMs));
    const r = await new Promise<EchoResult | null>((resolve) => { node.echo(now(), id, ECHO_TIMEOUT_MS, resolve); flush(); });
    echoes.push(r ? { ...r, rttMs: Math.round(r.rttMs * 100) / 100, path: pathTo(node, id) } : null);
  }
  address ??= await new Promise<string | null>((resolve) => { lan.at(now()).hostOf(id, resolve); flush(); });
  const linkedAt = node.links.peerOf(id)?.linkedAt ?? null;
  return { target, nodeId: idToHex(id), address, echoes, path: pathTo(node, id), linkUpMs: linkedAt === null ? null : Math.round(now() - linkedAt) };
}
