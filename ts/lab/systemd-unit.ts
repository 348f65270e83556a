// Owns running a lab daemon with the credentials a systemd unit file gives its service: the user, the
// capability bounding set, ambient capabilities and no_new_privs, read from the unit's [Service] section
// and applied with setpriv (util-linux). It must not emulate the rest of systemd (sandboxing, restarts):
// tests use it to prove the example unit's privileges suffice (tests/net/full-tunnel.test.ts).
import { readFileSync } from 'node:fs';
import { errors } from '../base/errors.js';

export interface UnitCredentials { user: string | null; bounding: string[] | null; ambient: string[]; noNewPrivileges: boolean }

/** The [Service] credentials of a unit file's text. */
export function parseUnitCredentials(text: string): UnitCredentials {
  const out: UnitCredentials = { user: null, bounding: null, ambient: [], noNewPrivileges: false };
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) { section = sec[1]!; continue; }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (section !== 'Service' || !kv) continue;
    const [, key, value] = kv as unknown as [string, string, string];
    const caps = (): string[] => value.split(/\s+/).filter(Boolean).map((c) => c.replace(/^CAP_/i, '').toLowerCase());
    if (key === 'User') out.user = value || null;
    else if (key === 'CapabilityBoundingSet') out.bounding = [...(out.bounding ?? []), ...caps()];
    else if (key === 'AmbientCapabilities') out.ambient.push(...caps());
    else if (key === 'NoNewPrivileges') out.noNewPrivileges = /^(yes|true|1|on)$/i.test(value);
  }
  return out;
}

/** The setpriv prefix that runs a command with the unit's credentials (user by name: root and nobody only). */
export function setprivArgs(c: UnitCredentials): string[] {
  const uids: Record<string, number> = { root: 0, nobody: 65534 };
  const a = ['setpriv'];
  if (c.user && c.user !== 'root') {
    const uid = uids[c.user] ?? (/^\d+$/.test(c.user) ? Number(c.user) : null);
    if (uid === null) throw errors.E_LAB_ARGS(`unit User=${c.user}: only root, nobody or a number here`);
    a.push(`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups');
  }
  const list = (xs: string[]): string => ['-all', ...xs.map((x) => `+${x}`)].join(',');
  a.push(`--inh-caps=${list(c.ambient)}`);
  if (c.ambient.length) a.push(`--ambient-caps=${list(c.ambient)}`);
  if (c.bounding) a.push(`--bounding-set=${list(c.bounding)}`);
  if (c.noNewPrivileges) a.push('--no-new-privs');
  return [...a, '--'];
}

/** setprivArgs of a unit file. */
export function unitLaunch(path: string): string[] { return setprivArgs(parseUnitCredentials(readFileSync(path, 'utf8'))); }
