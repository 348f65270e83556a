// Owns ringvpn's one error type and the registry of its stable codes: every error the control plane
// throws or rejects with is a RingvpnError whose `code` is a key of ERRORS (the CLI prints
// `ringvpn: <code>: <message>`, the control socket replies with the code). A code is never renamed or
// reused; add new ones here. It must not format output for a terminal (the CLI decides) and imports nothing.

/** The registry: code -> what it means. The message of each error says which file, key or node. */
export const ERRORS = {
  // configuration, keys, the command line
  E_CONFIG: 'the config file or a command-line option has a bad or missing value (the message names it)',
  E_CONFIG_READ: 'the config file cannot be read',
  E_KEY: 'a key is not 32 bytes of base64',
  E_NOT_ROOT: 'the command creates devices or namespaces and needs root (or CAP_NET_ADMIN)',
  E_ARGUMENT: "a caller broke a function's contract (a programming error, never hostile input)",
  E_INTERNAL: 'an error without a registered code reached the top: a bug',
  // the daemon and its control socket
  E_ENGINE: 'the native data plane is not built, does not load or does not start',
  E_CONTROL_SOCKET: 'the control socket cannot be created, or gave no answer in time',
  E_DAEMON_NOT_RUNNING: 'no daemon answers on the control socket',
  E_BAD_REQUEST: 'a control request is malformed or names an unknown command',
  E_ABORTED: 'an operation was aborted by its AbortSignal',
  // the group PKI
  E_PKI: 'a CA operation was refused or a PKI file (certificate, key, CRL, record) is bad',
  // the DHT and the virtual network on it
  E_DHT: 'a DHT operation failed (error.result.code says how: timeout, no-majority, a refusal)',
  E_DHT_PARAMS: 'the DHT parameters are inconsistent (replicas, majority, copies)',
  E_ADDRESS_TAKEN: 'the configured virtual address is held by another node',
  E_ADDRESS_EXHAUSTED: 'no free virtual address was found in the subnet',
  E_NOT_FOUND: 'no member has that name, address or node id (ringvpn ping)',
  // the lab (network namespaces, real daemons)
  E_LAB_ARGS: 'a lab option or node index is out of range',
  E_LAB_EXISTS: 'a lab of that name already exists',
  E_LAB_NOT_FOUND: 'no lab of that name exists',
  E_LAB_STATE: "a lab's state file is unreadable or malformed",
  E_LAB_START: 'a lab daemon failed to start or exited during start-up',
  E_LAB_TIMEOUT: 'lab nodes did not reach the awaited state in time',
  E_LAB_ABORTED: 'the lab operation was interrupted',
  E_LAB_MISSING_TOOL: 'a host tool the lab runs (udhcpc, ping, iptables, ...) is not installed',
  E_LAB_TOPOLOGY: 'a NAT lab topology (preset name or JSON file) is unknown, unreadable or invalid',
  E_NETNS: 'a network namespace cannot be created or used',
  E_OS_STATE: 'a change to the OS routing or firewall (full tunnel, gateway) could not be made or undone (the message names the command or the state file)',
  // the simulator
  E_GROUP_DB: "the group server's database cannot be opened, migrated or queried (the message names the store)",
  E_GROUP_REFUSED: 'the group server refused a request (bad or used token, a certificate request for another node or key, not approved); the message says what to do',
  E_GROUP_PIN: "the group server's certificate is not the one the join code pins (a wrong server, or a man in the middle): nothing was sent",
  E_GROUP_UNREACHABLE: 'the group server did not answer (address, port, firewall)',
  E_SIM: "the simulator was driven against its rules (a scenario's bug)",
  E_SIM_SCENARIO: 'no simulator scenario of that name',
  E_SIM_LATENCY_FILE: 'the latency matrix cannot be read or is malformed',
} as const;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.hasOwn(ERRORS, s);
}

export interface ErrorOptions<R> {
  cause?: unknown;
  /** the outcome that failed, kept for the caller (E_DHT*: the DHT's OpResult) */
  result?: R;
}

/** The one error class. `R` types `result` where a factory attaches one (the DHT's OpResult). */
export class RingvpnError<R = unknown> extends Error {
  readonly code: ErrorCode;
  readonly result?: R;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions<R>) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options?.result !== undefined) this.result = options.result;
    this.name = 'RingvpnError';
  }
}

export type ErrorFactory = <R = unknown>(message: string, options?: ErrorOptions<R>) => RingvpnError<R>;

/** One factory per code, as hyperdht's errors.js: `throw errors.E_LAB_ARGS('--nodes: ...')`. */
export const errors = Object.fromEntries(
  (Object.keys(ERRORS) as ErrorCode[]).map((code) => [code, (message: string, options?: ErrorOptions<unknown>) => new RingvpnError(code, message, options)]),
) as { readonly [C in ErrorCode]: ErrorFactory };
