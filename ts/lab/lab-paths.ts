// Owns reading the data path between two lab nodes from the source daemon's `status` reply (direct UDP
// session, a relay link through a common neighbour, or through the overlay) and summing paths up for `lab check`.
// Pure: it must not ask daemons anything itself (ringlab.ts passes the replies in).

/** The part of a status reply's `connections` / `dataPeers` entry that tells the path (ts/node/node-status.ts). */
interface PeerEntry {
  nodeId: string;
  session?: boolean;
  endpoint?: string | null;
  /** data peers: the link-table peer id of the overlay hop used without a direct session */
  via?: number | null;
  /** connections: the node id (hex) of the common neighbour carrying a relay link */
  relay?: string | null;
  dataplane?: { peerId?: number } | null;
}

export interface PathStatus {
  connections?: PeerEntry[];
  dataPeers?: PeerEntry[];
}

/**
 * - direct: a session with the target at a UDP endpoint;
 * - relay: a relay link: the session's frames go through a common neighbour (`via`, ts/node/relay-links.ts);
 * - overlay: no link of either kind: data goes end to end inside RELAY frames through the overlay hop
 *   (`via`, the greedy next hop), or a handshake through the overlay is under way (no `via`);
 * - none: the source's status has no entry for the target; no-status: the source did not answer.
 */
export type PathKind = 'direct' | 'relay' | 'overlay' | 'none' | 'no-status';
export const PATH_KINDS: readonly PathKind[] = ['direct', 'relay', 'overlay', 'none', 'no-status'];

export interface PairPath { from: string; to: string; kind: PathKind; via?: string; endpoint?: string }

export interface PathSummary {
  counts: Record<PathKind, number>;
  /** relay-link pairs per relay (a lab node's name, or its short id when it is not a lab node) */
  relays: Record<string, number>;
  pairs: PairPath[];
}

/** The path from a node (its status, null if it did not answer) to the node with id `target`; `names`: node id -> lab name. */
export function pathOf(status: PathStatus | null, target: string, names: ReadonlyMap<string, string>): { kind: PathKind; via?: string; endpoint?: string } {
  if (!status) return { kind: 'no-status' };
  const entries = [...(status.connections ?? []), ...(status.dataPeers ?? [])];
  const e = entries.find((x) => x.nodeId === target);
  if (!e) return { kind: 'none' };
  if (e.session && e.endpoint) return { kind: 'direct', endpoint: e.endpoint };
  if (e.session && e.relay) return { kind: 'relay', via: names.get(e.relay) ?? e.relay.slice(0, 8) };
  if (e.via !== undefined && e.via !== null) {
    const hop = entries.find((x) => x.dataplane?.peerId === e.via);
    return { kind: 'overlay', via: hop ? names.get(hop.nodeId) ?? hop.nodeId.slice(0, 8) : `peer#${e.via}` };
  }
  return { kind: 'overlay' };
}

/** Paths of `pairs` (indices into `statuses`, `ids` and `labels`), counted per kind and per relay hop. */
export function pairPaths(
  pairs: ReadonlyArray<{ from: number; to: number }>, statuses: ReadonlyArray<PathStatus | null>, ids: readonly string[], labels: readonly string[],
  names: ReadonlyMap<string, string>,
): PathSummary {
  const counts = Object.fromEntries(PATH_KINDS.map((k) => [k, 0])) as Record<PathKind, number>;
  const relays: Record<string, number> = {};
  const out = pairs.map(({ from, to }): PairPath => {
    const p = pathOf(statuses[from] ?? null, ids[to]!, names);
    counts[p.kind]++;
    if (p.kind === 'relay' && p.via) relays[p.via] = (relays[p.via] ?? 0) + 1;
    return { from: labels[from]!, to: labels[to]!, ...p };
  });
  return { counts, relays, pairs: out };
}

/** `9 direct, 2 relay (via node0 ×2), 1 overlay`: the kinds that occur, for people. */
export function describePaths(s: PathSummary): string {
  const via = Object.entries(s.relays).sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ×${c}`).join(', ');
  const parts = PATH_KINDS.filter((k) => s.counts[k] > 0).map((k) => `${s.counts[k]} ${k}${k === 'relay' && via ? ` (via ${via})` : ''}`);
  return parts.length ? parts.join(', ') : 'no pairs';
}
