// Owns a node run through the library API for the network tests (`node --import tsx library-node.ts
// <config>`), inside a lab namespace: createNode, every public event printed as a JSON line, close() on
// SIGTERM. It must not reach past the API (no daemon internals).
import { createNode, type NodeEvents } from '../../ts/index.js';

const out = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(o) + '\n'); };
const node = await createNode(process.argv[2]!);
const names: (keyof NodeEvents)[] = ['ready', 'address', 'peer-up', 'peer-down', 'path', 'revoked', 'refused', 'close'];
for (const ev of names) node.on(ev, ((x?: Record<string, unknown>) => out({ ev, ...x })) as never);
node.on('error', (e) => out({ ev: 'error', code: e.code, message: e.message }));
out({ ev: 'created', nodeId: node.nodeId, peers: (node.status().peers as unknown[]).length });
process.once('SIGTERM', () => { void node.close().then(() => process.exit(0)); });
