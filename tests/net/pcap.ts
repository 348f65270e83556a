// Owns reading the UDP payloads out of a classic pcap file (Ethernet link type) written by tcpdump.
// It must not interpret the payloads.
import { readFileSync } from 'node:fs';

export function udpPayloads(path: string): Buffer[] {
  const f = readFileSync(path);
  if (f.length < 24) return [];
  const le = f.readUInt32LE(0) === 0xa1b2c3d4;
  const u32 = (o: number): number => (le ? f.readUInt32LE(o) : f.readUInt32BE(o));
  const out: Buffer[] = [];
  let o = 24;
  while (o + 16 <= f.length) {
    const incl = u32(o + 8);
    const pkt = f.subarray(o + 16, o + 16 + incl);
    o += 16 + incl;
    if (pkt.length < 14 + 20 + 8 || pkt.readUInt16BE(12) !== 0x0800) continue;
    const ihl = (pkt[14]! & 0x0f) * 4;
    if (pkt[14 + 9] !== 17) continue;
    const udp = 14 + ihl;
    const len = pkt.readUInt16BE(udp + 4);
    out.push(Buffer.from(pkt.subarray(udp + 8, udp + len)));
  }
  return out;
}
