// Owns running one TCP transfer through the lab: a tcpxfer server in one namespace, a client in another.
// It must not judge the result; callers compare checksums and sizes.
import { join } from 'node:path';
import { repoRoot } from '../paths.js';
import type { Netns } from './netns.js';
import { sleep } from './util.js';

const tool = [process.execPath, '--import', join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs'), join(repoRoot, 'ts/lab/tcpxfer.ts')];

/** `maxGapMs` (receiver): the longest pause between two arrivals of data */
export interface TransferResult { bytes: number; sha256: string; seconds: number; maxGapMs?: number }

/** `rateBytes`: pace the sender (a transfer that runs long enough for something to happen under it) */
export async function transfer(from: Netns, to: Netns, toAddr: string, bytes: number, port = 5201, rateBytes = 0): Promise<{ sent: TransferResult; received: TransferResult }> {
  const [node, ...args] = tool;
  const server = to.spawn(node!, [...args, 'server', String(port)], { pipe: true });
  let out = '';
  server.child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
  const listening = new Promise<void>((resolve) => server.child.stderr?.on('data', (b: Buffer) => { if (b.toString().includes('listening')) resolve(); }));
  await Promise.race([listening, sleep(10000)]);
  const client = await from.exec(node!, [...args, 'client', toAddr, String(port), String(bytes), ...(rateBytes > 0 ? ['ringvpn', String(rateBytes)] : [])], { timeoutMs: 120_000 });
  await Promise.race([server.exited, sleep(30000)]);
  await server.kill('SIGKILL');
  const sent = JSON.parse(client.stdout.trim()) as TransferResult;
  const received = JSON.parse(out.trim() || '{"bytes":0,"sha256":"","seconds":0}') as TransferResult;
  return { sent, received };
}
