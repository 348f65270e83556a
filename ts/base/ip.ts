// Owns IP address arithmetic for the whole control plane: IPv4 as a u32 and as text, IPv6 as 16 bytes
// and as RFC 5952 text, IPv4 prefixes (mask, network base, containment), prefix text of either family,
// and "a.b.c.d:port" / "[v6]:port" endpoints. Pure: no node:net (ts/wire imports it), no state, and it
// never throws: text that is not an address gives null (or false).

/** An IPv4 prefix: `address` is the text before the slash (host bits may be set). */
export interface Cidr { address: string; prefix: number }

/** A parsed endpoint: `host` is the address text as written (without brackets), `address` its bytes. */
export interface Endpoint { host: string; port: number; family: 4 | 6; address: Uint8Array }

// ---------------------------------------------------------------- IPv4

/** "10.0.0.1" -> u32; null unless four decimal octets 0-255 without leading zeros (node:net's isIPv4). */
export function parseIpv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const t = m[i]!, o = Number(t);
    if (o > 255 || (t.length > 1 && t[0] === '0')) return null;
    v = v * 256 + o;
  }
  return v;
}

export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function isIpv4(s: string): boolean {
  return parseIpv4(s) !== null;
}

// ---------------------------------------------------------------- IPv6

/**
 * IPv6 text -> 16 bytes: eight groups of 1-4 hex digits, at most one "::" standing for one or more zero
 * groups, and optionally a dotted quad as the last 32 bits (::ffff:1.2.3.4). No zone index ("%eth0").
 */
export function parseIpv6(s: string): Uint8Array | null {
  if (s.length < 2 || s.length > 45) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (h: string): string[] | null => (h === '' ? [] : h.split(':'));
  const head = groupsOf(halves[0]!), tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (!head || !tail) return null;
  const words: number[] = [];
  const last = halves.length === 2 ? tail : head;
  const quad = last.length > 0 && last[last.length - 1]!.includes('.') ? parseIpv4(last.pop()!) : undefined;
  if (quad === null) return null;
  const hex = (g: string): number | null => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : null);
  const headW = head.map(hex), tailW = tail.map(hex);
  if (headW.includes(null) || tailW.includes(null)) return null;
  const explicit = headW.length + tailW.length + (quad === undefined ? 0 : 2);
  if (halves.length === 2 ? explicit > 7 : explicit !== 8) return null;
  words.push(...(headW as number[]), ...Array<number>(8 - explicit).fill(0), ...(tailW as number[]));
  if (quad !== undefined) words.push(quad >>> 16, quad & 0xffff);
  const out = new Uint8Array(16);
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  return out;
}

/**
 * RFC 5952 text of 16 bytes: lower case, no leading zeros, the first longest run of two or more zero
 * groups as "::", and IPv4-mapped addresses as ::ffff:a.b.c.d (as Rust and node print them).
 */
export function formatIpv6(b: Uint8Array): string {
  const g = Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hx = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  return best < 0 ? hx(g) : `${hx(g.slice(0, best))}::${hx(g.slice(best + bestLen))}`;
}

export function isIpv6(s: string): boolean {
  return parseIpv6(s) !== null;
}

/** 4 or 6 for an address of that family, 0 for anything else (node:net's isIP, without zone indexes). */
export function ipFamily(s: string): 0 | 4 | 6 {
  return isIpv4(s) ? 4 : isIpv6(s) ? 6 : 0;
}

// ---------------------------------------------------------------- prefixes

/** The netmask of an IPv4 prefix length, as a u32 (lengths above 32 count as 32). */
export function maskOf(prefix: number): number {
  return prefix <= 0 ? 0 : (0xffffffff << (32 - Math.min(32, prefix))) >>> 0;
}

/** "10.1.0.0/16" -> { address, prefix }; null unless an IPv4 address and a length 0-32. */
export function parseCidr(s: string): Cidr | null {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m || !isIpv4(m[1]!) || Number(m[2]) > 32) return null;
  return { address: m[1]!, prefix: Number(m[2]) };
}

/** The first address of the prefix (host bits cleared), as a u32. */
export function networkBase(net: Cidr): number {
  return ((parseIpv4(net.address) ?? 0) & maskOf(net.prefix)) >>> 0;
}

/** Is the IPv4 address `ip` inside `net`? False for anything that is not IPv4 text. */
export function cidrContains(net: Cidr, ip: string): boolean {
  const v = parseIpv4(ip);
  return v !== null && ((v & maskOf(net.prefix)) >>> 0) === networkBase(net);
}

/** A prefix of either family: "10.1.0.0/16" (length 0-32) or "fd00::/64" (0-128). */
export function isCidr(s: string): boolean {
  const parts = s.split('/');
  if (parts.length !== 2 || !/^\d{1,3}$/.test(parts[1]!)) return false;
  const v = ipFamily(parts[0]!), len = Number(parts[1]);
  return (v === 4 && len <= 32) || (v === 6 && len <= 128);
}

// ---------------------------------------------------------------- endpoints

/** "a.b.c.d:port" or "[v6]:port" with a port 0-65535; null for anything else (names, zone indexes). */
export function parseEndpoint(s: string): Endpoint | null {
  const m = /^(?:\[([^\]]+)\]|([\d.]+)):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 0xffff) return null;
  if (m[2] !== undefined) {
    const v = parseIpv4(m[2]);
    return v === null ? null : { host: m[2], port, family: 4, address: Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255) };
  }
  const a = parseIpv6(m[1]!);
  return a === null ? null : { host: m[1]!, port, family: 6, address: a };
}

/** The endpoint text of an address (4 or 16 bytes) and a port: "a.b.c.d:port" or "[v6]:port" (RFC 5952). */
export function formatEndpoint(address: Uint8Array, port: number): string {
  return address.length === 4 ? `${address.join('.')}:${port}` : `[${formatIpv6(address)}]:${port}`;
}
