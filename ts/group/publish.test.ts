// The group server's sentence about a revocation handed to a member daemon: it reports the daemon's
// reply (broadcastTo, storedInDht, fresh) as is, says when the record was not stored in the DHT, and
// says so when the reply lacks a field instead of guessing.
import test from 'ava';
import { publishedSentence, publisher } from './publish.js';

test('publishedSentence reports the daemon reply: neighbours reached and whether the DHT holds the record', (t) => {
  t.is(publishedSentence('/run/a.sock', { ok: true, broadcastTo: 3, storedInDht: true, fresh: true }), 'published through /run/a.sock (broadcast to 3 neighbour(s), stored in the DHT)');
  const notStored = publishedSentence('/run/a.sock', { broadcastTo: 0, storedInDht: false, fresh: true });
  t.regex(notStored, /broadcast to 0 neighbour\(s\)/);
  t.regex(notStored, /NOT stored in the DHT/);
  t.regex(publishedSentence('s', { broadcastTo: 2, storedInDht: true, fresh: false }), /knew of this revocation already/);
  const old = publishedSentence('s', { broadcast: 5 });
  t.notRegex(old, /\?|5|, stored in the DHT/, 'a reply without the fields is not reported as a success');
  t.regex(old, /did not say how many neighbours/);
  t.regex(old, /did not say whether it was stored in the DHT/);
  t.regex(publishedSentence('s', null), /did not say/);
});

test('publisher asks the group\'s daemon with the record in base64, or says there is none', async (t) => {
  const asked: unknown[] = [];
  const pub = publisher(new Map([['lab', '/run/lab.sock']]), async (sock, req) => { asked.push([sock, req]); return { broadcastTo: 4, storedInDht: false }; });
  t.regex(await pub('lab', new Uint8Array([1, 2, 3])), /^published through \/run\/lab\.sock \(broadcast to 4 neighbour\(s\), NOT stored in the DHT/);
  t.deepEqual(asked, [['/run/lab.sock', { cmd: 'revoke', record: 'AQID' }]]);
  t.regex(await pub('other', new Uint8Array([1])), /no member daemon to publish through/);
  t.is(asked.length, 1);
});
