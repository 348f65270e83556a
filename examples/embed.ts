// An HTTP service reachable only over the VPN: it starts a ringvpn node through the library API and
// listens on the node's virtual address, so only members can connect. Run (as root, or with CAP_NET_ADMIN):
//   node --import tsx examples/embed.ts <config.json> [port]
// It logs the node's events, answers GET / with who is asking, and closes the node on SIGINT/SIGTERM.
import { createServer } from 'node:http';
import { createNode } from 'ringvpn';

const [configPath, portText = '8080'] = process.argv.slice(2);
if (!configPath) { process.stderr.write('usage: embed.ts <config.json> [port]\n'); process.exit(2); }

const node = await createNode(configPath);
node.on('peer-up', (p) => console.log(`peer up: ${p.nodeId.slice(0, 8)} at ${p.endpoint ?? 'no endpoint'}`));
node.on('path', (p) => console.log(`path to ${p.nodeId.slice(0, 8)}: ${p.path}`));
node.on('error', (e) => console.error(`ringvpn: ${e.code}: ${e.message}`));

// the virtual address: fixed in a static mesh, claimed in the DHT in overlay mode
const address = await new Promise<string>((resolve) => {
  const fixed = node.config.address?.split('/')[0];
  if (fixed) resolve(fixed);
  else node.once('address', (a) => resolve(a.address));
});
const server = createServer((req, res) => res.end(`hello ${req.socket.remoteAddress} from ${address} over ringvpn\n`));
server.listen(Number(portText), address, () => console.log(`listening on http://${address}:${portText}/ (VPN only)`));

const stop = (): void => { server.close(); void node.close().then(() => process.exit(0)); };
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
