// Owns reading the data path between two lab nodes from the source daemon's `status` reply (direct UDP
// session, relayed through a via hop, or only through the overlay) and summing paths up for `lab check`.
// Pure: it must not ask daemons anything itself (ringlab.ts passes the replies in).

/** The part of a status reply's `connections` / `dataPeers` entry that tells the path (ts/node/node-status.ts). */
interface PeerEntry {
  nodeId: string;
  session?: boolean;
  endpoint?: string | null;
  /** data peers: the link-table peer id of the overlay hop used without a direct session */
  via?: number | null;
  dataplane?: { peerId?: number } | null;
}

export interface PathStatus {
  connections?: PeerEntry[];
  dataPeers?: PeerEntry[];
}

/**
 * - direct: a session with the target at a UDP endpoint;
 * - relayed: no direct session; data goes end to end inside RELAY frames through the `via` hop;
 * - overlay: the source knows the target but has neither (a handshake through the overlay, or none yet);
 * - none: the source's status has no entry for the target; no-status: the source did not answer.
 */
export type PathKind = 'direct' | 'relayed' | 'overlay' | 'none' | 'no-status';
export const PATH_KINDS: readonly PathKind[] = ['direct', 'relayed', 'overlay', 'none', 'no-status'];

export interface PairPath { from: string; to: string; kind: PathKind; via?: string; endpoint?: string }

export interface PathSummary {
  counts: Record<PathKind, number>;
  /** relayed pairs per via hop (a lab node's name, or peer#<id> when the hop is not in the status) */
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
  if (e.via !== undefined && e.via !== null) {
    const hop = entries.find((x) => x.dataplane?.peerId === e.via);
    return { kind: 'relayed', via: hop ? names.get(hop.nodeId) ?? hop.nodeId.slice(0, 8) : `peer#${e.via}` };
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
    if (p.via) relays[p.via] = (relays[p.via] ?? 0) + 1;
    return { from: labels[from]!, to: labels[to]!, ...p };
  });
  return { counts, relays, pairs: out };
}

/** `9 direct, 2 relayed (via node0 ×2), 1 overlay`: the kinds that occur, for people. */
export function describePaths(s: PathSummary): string {
  const via = Object.entries(s.relays).sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ×${c}`).join(', ');
  const parts = PATH_KINDS.filter((k) => s.counts[k] > 0).map((k) => `${s.counts[k]} ${k}${k === 'relayed' && via ? ` (via ${via})` : ''}`);
  return parts.length ? parts.join(', ') : 'no pairs';
}
