// Runs one simulator scenario until `ringvpn sim` is wired: npx tsx benches/sim/run.ts <scenario>
//   [--nodes N] [--seed S] [--out DIR] [--trials T] [--pairs P] [--sizes a,b,c] [--joined-up-to N] [--rate R] [--duration S]
// Scenarios: join, routing, churn, figure5, scale. Results go to benches/results/sim-*.
import { runSimCommand, type SimOptions } from '../../ts/sim/cli.js';

const [scenario, ...rest] = process.argv.slice(2);
const opt = (name: string): string | undefined => { const i = rest.indexOf(`--${name}`); return i >= 0 ? rest[i + 1] : undefined; };
const num = (name: string): number | undefined => { const v = opt(name); return v === undefined ? undefined : Number(v); };
const o: SimOptions = {
  nodes: num('nodes') ?? 1000, seed: num('seed') ?? 1, out: opt('out') ?? 'benches/results',
  trials: num('trials'), pairs: num('pairs'), sizes: opt('sizes')?.split(',').map(Number),
  joinedUpTo: num('joined-up-to'), rate: num('rate'), durationS: num('duration'),
};
await runSimCommand(scenario ?? 'join', o);
