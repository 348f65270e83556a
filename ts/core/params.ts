// Owns the overlay's tunable constants (Brunet defaults) and the per-node counters shape.
// It must not hold state; a node copies what it needs.

export interface Params {
  heartbeatMs: number;        // tick period the driver must honour
  pingAfterMs: number;        // ping a connection silent this long
  rpcMinTimeoutMs: number;    // retransmit after max(this, mean + 6σ RTT)
  rpcTries: number;           // sends before an RPC fails
  nearPerSide: number;        // wanted near neighbours per side
  nearKeep: number;           // near links kept up to this many positions away
  leafWanted: number;         // bootstrap links wanted until joined
  linkTimeoutMs: number;      // a link request not answered by then is forgotten
  trimDelayMs: number;        // a link no side needs is closed after this age
  closeGraceMs: number;       // after a trim, frames from the peer are still forwarded this long before unlinking
  joinRetryMs: number;        // resend the join connect-to-me this often until joined
  ctmTimeoutMs: number;       // a shortcut / on-demand connect-to-me without reply is retried after this
  repairMs: number;           // minimum spacing of near-repair connect-to-me requests
  stabilizeMs: number;        // periodic status to the nearest neighbour on each side
  statusPerSide: number;      // neighbours listed per side in STATUS / CTM_REPLY
  onDemandIdleMs: number;     // on-demand link dropped after this long without traffic
  shortcuts: boolean;         // build Symphony shortcuts
  onDemand: boolean;          // make on-demand links between nodes that exchange traffic
  rebootstrapRingMs: number;  // ring-wide mean spacing of re-bootstrap probes (each node: N̂ times this)
  rebootstrapMinMs: number;   // but no node more often than this
  defaultTtl: number;
}

export const DEFAULT_PARAMS: Params = {
  heartbeatMs: 500,
  pingAfterMs: 15_000,
  rpcMinTimeoutMs: 2_000,
  rpcTries: 5,
  nearPerSide: 2,
  nearKeep: 4,
  leafWanted: 3,
  linkTimeoutMs: 10_000,
  trimDelayMs: 30_000,
  closeGraceMs: 3_000,
  joinRetryMs: 5_000,
  ctmTimeoutMs: 10_000,
  repairMs: 2_000,
  stabilizeMs: 30_000,
  statusPerSide: 3,
  onDemandIdleMs: 450_000,
  shortcuts: true,
  onDemand: true,
  rebootstrapRingMs: 10_000,
  rebootstrapMinMs: 60_000,
  defaultTtl: 64,
};

export interface NodeStats {
  sent: number;
  received: number;
  forwarded: number;
  delivered: number;
  /** dropped messages, per stable reason code */
  drops: Record<string, number>;
}
