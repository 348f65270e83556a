// Owns the rule for network tests: run as root; skip with a reason elsewhere; fail under CI=true.
// It must not create anything itself.
import test, { type TestFn } from 'ava';
import { netnsSupport } from '../../ts/lab/netns.js';

const support = await netnsSupport();

/** `netTest(title, fn)`: a serial ava test that needs network namespaces. */
export const netTest: TestFn['serial'] = (() => {
  if (support.ok) return test.serial;
  if (process.env.CI === 'true') {
    return ((title: string) => test.serial(title, (t) => t.fail(`cannot run under CI: ${support.why}`))) as unknown as TestFn['serial'];
  }
  console.warn(`skipping network tests: ${support.why}`);
  return test.skip as unknown as TestFn['serial'];
})();
