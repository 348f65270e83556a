// The generated bash completion completes commands, subcommands and options of the tree it was made from.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { Command } from 'commander';
import { bashCompletion } from './completion.js';

test('bash completion: commands, subcommands, options', (t) => {
  const p = new Command('ringvpn');
  p.command('up').option('-c, --config <file>');
  const cfg = p.command('config');
  cfg.command('init').option('-o, --out <file>');
  cfg.command('check');
  const script = bashCompletion(p);
  const complete = (words: string[]): string => execFileSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `"${w}"`).join(' ')}); COMP_CWORD=${words.length - 1}; _ringvpn; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' }).trim();
  t.is(complete(['ringvpn', 'c']), 'config');
  t.is(complete(['ringvpn', 'config', '']), 'init check');
  t.is(complete(['ringvpn', 'config', 'init', '--']), '--out');
  t.is(complete(['ringvpn', 'up', '-']), '--config -c');
});
