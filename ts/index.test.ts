// The library entry point without root: bad configs and an aborted signal are RingvpnErrors with stable
// codes, before anything is started.
import test from 'ava';
import { createNode, RingvpnError, ERRORS } from './index.js';
import { encodeKey, generateKeyPair } from './config/keys.js';

test('createNode refuses a bad config or an aborted signal with a stable code', async (t) => {
  const bad = await t.throwsAsync(createNode({ privateKey: 'nope', address: '10.0.0.1/24' }));
  t.true(bad instanceof RingvpnError);
  t.is((bad as RingvpnError).code, 'E_CONFIG');
  t.regex(bad!.message, /privateKey: expected a 32-byte key/);
  t.is((await t.throwsAsync(createNode('/nonexistent/ringvpn.json')) as RingvpnError).code, 'E_CONFIG_READ');
  const ac = new AbortController();
  ac.abort();
  const good = { privateKey: encodeKey(generateKeyPair().privateKey), address: '10.0.0.1/24' };
  t.is((await t.throwsAsync(createNode(good, { signal: ac.signal })) as RingvpnError).code, 'E_ABORTED');
  t.true('E_CONFIG' in ERRORS && 'E_ABORTED' in ERRORS, 'the codes are in the exported registry');
});
