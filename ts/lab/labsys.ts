// Owns the lab's few questions to the host: installed tools, existing namespaces and the kernel's ARP
// cap. It must not change anything on the host.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { errors } from '../base/errors.js';

const pexec = promisify(execFile);

/** The kernel's cap on ARP entries across all namespaces (net.ipv4.neigh.default.gc_thresh3), or null. */
export function arpCacheCap(): number | null {
  try { return Number(readFileSync('/proc/sys/net/ipv4/neigh/default/gc_thresh3', 'utf8').trim()) || null; } catch { return null; }
}

export async function listNamespaces(): Promise<string[]> {
  try {
    const { stdout } = await pexec('ip', ['netns', 'list']);
    return stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean);
  } catch {
    return [];
  }
}

export async function needUdhcpc(): Promise<void> {
  try {
    const { stdout } = await pexec('busybox', ['--list']);
    if (stdout.split('\n').includes('udhcpc')) return;
  } catch { /* missing */ }
  throw errors.E_LAB_MISSING_TOOL('the lab runs the OS DHCP client `busybox udhcpc` (apt-get install busybox), or use --static');
}
