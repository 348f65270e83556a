// Owns how the group server hands a revocation record to a member daemon of the group (its control
// socket, `--publish group=socket`) and the sentence the administrator's page shows about the daemon's
// reply. It must not sign or revoke (enrolment.ts) nor open sockets itself: the caller passes `ask`.

/** Ask a daemon's control socket (ts/runtime/control.ts's requestControl, or a fake in tests). */
export type AskDaemon = (socket: string, req: { cmd: 'revoke'; record: string }) => Promise<unknown>;

/** What the daemon's reply says (ts/node/group.ts, Revocations.publish): told as is, never guessed. */
export function publishedSentence(socket: string, reply: unknown): string {
  const r = (typeof reply === 'object' && reply !== null ? reply : {}) as { broadcastTo?: unknown; storedInDht?: unknown; fresh?: unknown };
  const reach = typeof r.broadcastTo === 'number' ? `broadcast to ${r.broadcastTo} neighbour(s)` : 'the daemon did not say how many neighbours it broadcast to';
  const dht = r.storedInDht === true ? 'stored in the DHT'
    : r.storedInDht === false ? 'NOT stored in the DHT: members still learn it from the CRL'
      : 'the daemon did not say whether it was stored in the DHT';
  return `published through ${socket} (${reach}, ${dht}${r.fresh === false ? '; the daemon knew of this revocation already' : ''})`;
}

/** The server's `publish` option: a group's record goes to its daemon, or the page says there is none. */
export function publisher(sockets: ReadonlyMap<string, string>, ask: AskDaemon): (group: string, record: Uint8Array) => Promise<string> {
  return async (group, record) => {
    const socket = sockets.get(group);
    if (!socket) return 'no member daemon to publish through (--publish): members learn it from the CRL';
    return publishedSentence(socket, await ask(socket, { cmd: 'revoke', record: Buffer.from(record).toString('base64') }));
  };
}
