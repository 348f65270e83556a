// Tests the status printer's memory and defence lines: what an operator reads when a daemon is attacked.
import test from 'ava';
import { defenceLine, memoryLine } from './status.js';

const MiB = 2 ** 20;

test('memory line: RSS against the budget, and what happens over it', (t) => {
  t.is(memoryLine(undefined), null);
  t.is(memoryLine({ rssBytes: 66 * MiB, heapUsedBytes: 12 * MiB, budgetBytes: 80 * MiB }), 'memory: rss 66.0 MiB of a 80.0 MiB budget (JS heap 12.0 MiB)');
  t.regex(memoryLine({ rssBytes: 81 * MiB, heapUsedBytes: 12 * MiB, budgetBytes: 80 * MiB })!, /OVER BUDGET$/);
  t.regex(memoryLine({ rssBytes: 75 * MiB, heapUsedBytes: 12 * MiB, budgetBytes: 80 * MiB, refusingNewPeers: true })!, /OVER BUDGET: refusing new peers$/, 'still refusing until 90 % of the budget');
});

test('defence line: each defence that turned something away, nothing otherwise', (t) => {
  t.is(defenceLine({}, {}), 'defences: nothing turned away');
  const line = defenceLine({ handshake_rate: 10, handshake_queue: 2 }, { handshake_cookie_sent: 5, admit_over_budget: 3 }, { throttled: { control: 7, bcast: 0 }, members: [{ nodeId: 'abcdef0123456789', throttled: 7 }] });
  t.regex(line, /per-source limit 10, over the queue share 2/);
  t.regex(line, /cookie replies sent 5/);
  t.regex(line, /peer table full 0, over the memory budget 3/);
  t.regex(line, /member quotas throttled control=7; most: abcdef01×7/);
  t.notRegex(line, /bcast/, 'quotas that throttled nothing are left out');
});
