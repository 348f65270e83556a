// Owns the config file: its schema, defaults, and the checks that name the bad key on failure.
// It must not touch the device, the network or the engine; it only turns text into a Config.
import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { RingvpnError } from '../base/errors.js';
import { cidrContains, ipFamily, isCidr, isIpv4, parseCidr, parseEndpoint } from '../base/ip.js';
import { decodeKey, publicFromPrivate } from './keys.js';

// valibot, not zod: the daemon keeps what it imports for its whole life, and zod 4 cost each daemon
// about 3 MiB of heap (README, "Choices and why"). `v.optional(s, d)` runs the default through `s`.
const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const text = (min: number, max?: number) =>
  max === undefined ? v.pipe(v.string(), v.minLength(min)) : v.pipe(v.string(), v.minLength(min), v.maxLength(max));
const matching = (re: RegExp, message: string) => v.pipe(v.string(), v.regex(re, message));
const checked = (ok: (s: string) => boolean, message: string) => v.pipe(v.string(), v.check(ok, message));

const ipv4Cidr = checked((s) => parseCidr(s) !== null, 'expected an IPv4 address with a prefix length, like 10.99.0.1/24');
const anyCidr = checked(isCidr, 'expected an address with a prefix length, like 10.1.0.0/16 or fd00::/64');
const endpoint = checked((s) => (parseEndpoint(s)?.port ?? 0) > 0, 'expected an IP address and port, like 192.0.2.7:51820 or [2001:db8::1]:51820');
const key = checked((s) => /^[A-Za-z0-9+/]{43}=$/.test(s.trim()), "expected a 32-byte key in base64 (44 characters ending in '='), as printed by `ringvpn keygen`");
const ipv4 = checked(isIpv4, 'expected an IPv4 address, like 10.128.0.7');
const ifName = matching(/^[A-Za-z0-9_.-]{1,15}$/, 'expected an interface name of 1-15 letters, digits, _ . or -');
const networkId = matching(/^[a-z0-9][a-z0-9-]{0,31}$/, 'expected 1-32 lower-case letters, digits or -');
const DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const groupNames = v.pipe(v.array(text(1, 64)), v.minLength(1));

const peerSchema = v.strictObject({
  name: v.optional(text(1, 64)),
  publicKey: key,
  endpoint: v.optional(endpoint),
  address: checked(isIpv4, 'expected an IPv4 address, like 10.99.0.2'),
  allowedIps: v.optional(v.array(anyCidr), []),
});

/** Overlay mode: the virtual LAN this node joins (addresses from the DHT, DHCP and DNS on the device). */
const networkSchema = v.strictObject({
  /** Name of the virtual network: it scopes the DHT keys (addresses, names, routes). */
  id: v.optional(networkId, 'ringvpn'),
  subnet: v.optional(ipv4Cidr, '10.128.0.0/16'),
  domain: v.optional(matching(DOMAIN, 'expected a DNS domain like ringvpn or vpn.example'), 'ringvpn'),
  /** A fixed address instead of one allocated through the DHT (it is still registered there). */
  address: v.optional(ipv4),
  /** Serve DHCP on the device so the OS's own client configures it (TAP only); false: the daemon assigns the address. */
  dhcp: v.optional(v.boolean(), true),
  dns: v.optional(v.boolean(), true),
  /** Router mode: subnets behind this node that it announces to the network. */
  routes: v.optional(v.array(ipv4Cidr), []),
  leaseSeconds: v.optional(int(60, 86_400), 600),
});

const overlaySchema = v.strictObject({
  /** Endpoints of existing members; empty makes this node the seed of a new ring. */
  bootstrap: v.optional(v.array(endpoint), []),
  /** Endpoints to tell others about, besides what peers report seeing. */
  advertise: v.optional(v.array(endpoint), []),
  /** Also advertise this host's own interface addresses (with listenPort), so members behind one NAT link over their LAN. */
  localCandidates: v.optional(v.boolean(), true),
  /** Relay links through a common neighbour for pairs that cannot reach each other directly. */
  relay: v.optional(v.strictObject({
    enabled: v.optional(v.boolean(), true),
    /** latency: the lowest RTT through the relay; stability: the oldest links */
    policy: v.optional(v.picklist(['latency', 'stability']), 'latency'),
    /** common neighbours kept in reserve for fail-over */
    reserve: v.optional(int(0, 8), 3),
    /** peers that may use this node as their relay hop at once (each end of a relayed pair counts); beyond it new relay links go elsewhere */
    maxUsers: v.optional(int(0, 100_000), 64),
    /** relayed pairs this node carries at once, enforced in the data plane (frames of more are dropped relay_full; 0: relay nobody) */
    maxSessions: v.optional(int(0, 65_536), 512),
    /** per relayed pair, megabits per second through this node (frames over it dropped relay_rate); 0: no limit */
    maxRateMbps: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(100_000)), 0),
  }), {}),
});

/** Private group: only members certified by the CA may link (overlay mode). */
const pkiSchema = v.strictObject({
  /** the group CA certificate (PEM) */
  ca: text(1),
  /** this node's certificate (PEM), from `ringvpn ca sign` */
  cert: text(1),
  /** a CRL file or http(s) URL, polled every crlPollSeconds */
  crl: v.optional(text(1)),
  crlPollSeconds: v.optional(int(1, 86_400), 60),
  /**
   * the group server this node enrolled with (`ringvpn join` writes it): the CRL is fetched from it and
   * the certificate renewed there before it expires, over HTTPS pinned to the server's certificate
   */
  server: v.optional(v.strictObject({
    url: matching(/^https:\/\/[^/]+$/, 'expected https://host:port'),
    /** SHA-256 of the server's certificate (hex) */
    pin: matching(/^[0-9a-f]{64}$/, 'expected 64 hex digits'),
    group: text(1),
    /** the Ed25519 identity key the node enrolled with (it signs renewal requests) */
    identityKey: text(1),
    /** renew when this share of the certificate's lifetime is left */
    renewAt: v.optional(v.pipe(v.number(), v.gtValue(0), v.ltValue(1)), 1 / 3),
  })),
});

/** A private group beside the public overlay (`network`): its own ring, DHT, addresses and names, found through the public DHT (docs/private-overlays.md). */
const groupSchema = v.strictObject({
  pki: pkiSchema,
  network: v.strictObject({
    /** scopes the group's DHT keys (addresses, names, routes) inside its own ring */
    id: networkId,
    /** the group's subnet: its certificates' addresses are in it; it must not overlap the public network or another group (one device) */
    subnet: ipv4Cidr,
    /** names in the group resolve as `<name>.<domain>` on the device's DNS responder */
    domain: matching(DOMAIN, 'expected a DNS domain like team or team.example'),
  }),
});

export const configSchema = v.strictObject({
  /** for editors: the JSON Schema this file follows (`ringvpn config schema`); ignored */
  $schema: v.optional(v.string()),
  privateKey: v.optional(key),
  privateKeyFile: v.optional(text(1)),
  /** Host name in DNS (`<name>.<network.domain>`). */
  name: v.optional(matching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, 'expected a DNS label: letters, digits and -')),
  /** Static full-mesh mode: this node's address (give `peers`). Overlay mode uses `network` instead. */
  address: v.optional(ipv4Cidr),
  network: v.optional(networkSchema),
  overlay: v.optional(overlaySchema),
  pki: v.optional(pkiSchema),
  /** Private groups this node is a member of beside the public overlay (`network`), over the same socket and device. */
  groups: v.optional(v.pipe(v.array(groupSchema), v.maxLength(16)), []),
  device: v.optional(v.strictObject({
    mode: v.optional(v.picklist(['tap', 'tun']), 'tap'),
    name: v.optional(ifName, 'ringvpn0'),
    mtu: v.optional(int(576, 9000), 1420),
  }), {}),
  /** Gateway (overlay mode): members may send Internet traffic through this node, forwarded and masqueraded out of its uplink. */
  gateway: v.optional(v.strictObject({
    enable: v.optional(v.boolean(), false),
    /** The interface towards the Internet; default: the device of the IPv4 default route. */
    uplink: v.optional(ifName),
    /** Who may use it: '*' (every member) or certificate group names (a private group). */
    allow: v.optional(groupNames, ['*']),
  }), {}),
  /** Full tunnel (overlay mode): all of this host's Internet traffic goes through the fastest live gateway listed in the DHT. */
  fullTunnel: v.optional(v.strictObject({
    enable: v.optional(v.boolean(), false),
    /** The servers the device's DNS responder (the service address) forwards other names to; default: the host's resolv.conf. */
    dns: v.optional(v.pipe(v.array(checked((x) => ipFamily(x) === 4, 'expected an IPv4 address')), v.maxLength(4))),
    /** Only gateways whose certificate has one of these groups carry our traffic (a private group); default: any listed gateway. */
    gateways: v.optional(groupNames),
  }), {}),
  dataplane: v.optional(v.strictObject({
    threads: v.optional(v.picklist([1, 2]), 1),
    offload: v.optional(v.boolean(), true),
  }), {}),
  listenPort: v.optional(int(1, 65535), 51820),
  listenAddress: v.optional(checked((s) => ipFamily(s) !== 0, 'expected an IP address'), '0.0.0.0'),
  controlSocket: v.optional(text(1)),
  peers: v.optional(v.array(peerSchema), []),
  log: v.optional(v.strictObject({ level: v.optional(v.picklist(['trace', 'debug', 'info', 'warn', 'error']), 'info') }), {}),
  /** Opt-in Prometheus endpoint: GET /metrics on this address (port 0: any free port, shown in status). */
  metrics: v.optional(v.strictObject({
    listen: v.optional(checked((x) => parseEndpoint(x) !== null, 'expected host:port, like 127.0.0.1:9586')),
  }), {}),
});

export type ConfigInput = v.InferInput<typeof configSchema>;
export type PeerConfig = v.InferOutput<typeof peerSchema> & { publicKeyBytes: Uint8Array };
export type NetworkConfig = v.InferOutput<typeof networkSchema>;
export type Config = Omit<v.InferOutput<typeof configSchema>, 'peers' | 'overlay'> & {
  overlay: v.InferOutput<typeof overlaySchema>;
  privateKeyBytes: Uint8Array;
  publicKeyBytes: Uint8Array;
  controlSocket: string;
  peers: PeerConfig[];
};

export function defaultControlSocket(deviceName: string): string {
  return `/run/ringvpn/${deviceName}.sock`;
}

/** Validates a parsed config object; `source` names the file in error messages. */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = v.safeParse(configSchema, raw);
  if (!result.success) {
    const lines = result.issues.map((i) => `  ${formatPath(i.path)}: ${issueMessage(i)}`);
    throw new RingvpnError('E_CONFIG', `${source} is not a valid ringvpn config:\n${lines.join('\n')}`);
  }
  const c = result.output;
  const fail = (path: string, msg: string): never => {
    throw new RingvpnError('E_CONFIG', `${source} is not a valid ringvpn config:\n  ${path}: ${msg}`);
  };
  if ((c.privateKey === undefined) === (c.privateKeyFile === undefined)) {
    fail('privateKey', 'give exactly one of privateKey or privateKeyFile');
  }
  let keyText = c.privateKey;
  if (keyText === undefined && c.privateKeyFile !== undefined) {
    try {
      keyText = readFileSync(c.privateKeyFile, 'utf8');
    } catch (e) {
      fail('privateKeyFile', `cannot read ${c.privateKeyFile}: ${(e as Error).message}`);
    }
  }
  // a key file may hold the bare key or what `ringvpn keygen -o` writes (JSON with privateKey)
  if (c.privateKeyFile !== undefined && keyText?.trim().startsWith('{')) {
    try {
      const k = (JSON.parse(keyText) as { privateKey?: unknown }).privateKey;
      if (typeof k !== 'string') fail('privateKeyFile', `${c.privateKeyFile} is JSON without a "privateKey" string`);
      keyText = k as string;
    } catch (e) {
      if ((e as { code?: string }).code === 'E_CONFIG') throw e;
      fail('privateKeyFile', `${c.privateKeyFile} looks like JSON but does not parse: ${(e as Error).message}`);
    }
  }
  const privateKeyBytes = decodeKey(keyText ?? '', 'privateKey');
  const publicKeyBytes = publicFromPrivate(privateKeyBytes);
  if ((c.address === undefined) === (c.network === undefined)) {
    fail('address', 'give exactly one of `address` (static peers) or `network` (overlay mode)');
  }
  if (c.pki && !c.network) fail('pki', 'a private group needs overlay mode (`network`)');
  if (c.gateway.enable && !c.network) fail('gateway.enable', 'a gateway needs overlay mode (`network`)');
  if (c.gateway.enable && !c.pki && !c.gateway.allow.includes('*')) fail('gateway.allow', 'groups come from certificates: without `pki`, allow only \'*\'');
  if (c.fullTunnel.enable && !c.network) fail('fullTunnel.enable', 'a full tunnel needs overlay mode (`network`): gateways are found in the DHT');
  if (c.fullTunnel.gateways && !c.pki) fail('fullTunnel.gateways', 'groups come from certificates: it needs a `pki` section');
  if (c.fullTunnel.enable && c.gateway.enable) fail('fullTunnel.enable', 'a gateway sends its own traffic out of its uplink; enable gateway or fullTunnel, not both');
  if (c.network && c.peers.length) fail('peers', 'static peers are not used in overlay mode (`network`); list bootstrap endpoints in overlay.bootstrap');
  if (c.network) {
    const net = parseCidr(c.network.subnet)!;
    if (net.prefix > 29) fail('network.subnet', 'must leave room for hosts (a /29 or larger)');
    if (c.network.address && !cidrContains(net, c.network.address)) fail('network.address', `is not inside network.subnet ${c.network.subnet}`);
    if (c.network.dhcp && c.device.mode === 'tun') fail('network.dhcp', 'DHCP needs a TAP device; set network.dhcp to false for TUN');
  }
  if (c.groups.length && !c.network) fail('groups', 'private groups are found through the public overlay: give `network` (overlay mode)');
  if (c.groups.length && c.device.mode !== 'tun') fail('device.mode', 'private groups share the device in TUN mode (a group address on a TAP device is not answered by ARP yet): set "tun" and network.dhcp false');
  const nets = c.network ? [{ path: 'network.subnet', cidr: parseCidr(c.network.subnet)!, domain: c.network.domain, id: c.network.id }] : [];
  c.groups.forEach((g, i) => {
    const cidr = parseCidr(g.network.subnet)!;
    if (cidr.prefix > 29) fail(`groups[${i}].network.subnet`, 'must leave room for hosts (a /29 or larger)');
    for (const o of nets) {
      if (cidrContains(o.cidr, cidr.address) || cidrContains(cidr, o.cidr.address)) fail(`groups[${i}].network.subnet`, `${g.network.subnet} overlaps ${o.path} (the groups share one device)`);
      if (o.domain === g.network.domain) fail(`groups[${i}].network.domain`, `${g.network.domain} is also ${o.path.replace('subnet', 'domain')}`);
      if (o.id === g.network.id) fail(`groups[${i}].network.id`, `${g.network.id} is also ${o.path.replace('subnet', 'id')}`);
    }
    nets.push({ path: `groups[${i}].network.subnet`, cidr, domain: g.network.domain, id: g.network.id });
  });
  const own = c.address ? parseCidr(c.address)! : { address: '', prefix: 0 };
  const seenKeys = new Map<string, number>();
  const seenAddr = new Map<string, number>();
  const peers = c.peers.map((p, i) => {
    const k = p.publicKey.trim();
    if (k === Buffer.from(publicKeyBytes).toString('base64')) fail(`peers[${i}].publicKey`, 'is this node\'s own public key');
    if (seenKeys.has(k)) fail(`peers[${i}].publicKey`, `same key as peers[${seenKeys.get(k)}]`);
    seenKeys.set(k, i);
    if (p.address === own.address) fail(`peers[${i}].address`, `is this node's own address ${own.address}`);
    if (seenAddr.has(p.address)) fail(`peers[${i}].address`, `same address as peers[${seenAddr.get(p.address)}]`);
    seenAddr.set(p.address, i);
    return { ...p, publicKey: k, publicKeyBytes: decodeKey(k, `peers[${i}].publicKey`) };
  });
  return {
    ...c,
    privateKeyBytes,
    publicKeyBytes,
    controlSocket: c.controlSocket ?? defaultControlSocket(c.device.name),
    peers,
    overlay: c.overlay ?? v.parse(overlaySchema, {}),
  };
}

/** Reads and validates a JSON config file. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new RingvpnError('E_CONFIG_READ', `cannot read config ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new RingvpnError('E_CONFIG', `${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(raw, path);
}

function formatPath(path: readonly { key: unknown }[] | undefined): string {
  let out = '';
  for (const { key: k } of path ?? []) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out || '(top level)';
}

/** valibot's words, except for a key the schema does not have (a typo, or a setting of another version). */
function issueMessage(i: v.BaseIssue<unknown>): string {
  return i.type === 'strict_object' && i.expected === 'never' ? 'unknown key (not a ringvpn setting; `ringvpn config schema` lists them)' : i.message;
}
