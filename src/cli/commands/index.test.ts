import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS, registerCommands } from './index.ts';

const namesOf = (program: Command) => program.commands.map((command) => command.name());

describe('the command table', () => {
  it('names exactly the commands each module registers', async () => {
    for (const [names, load] of COMMANDS) {
      const program = new Command('tca');
      (await load())(program);
      expect(namesOf(program), names.join(', ')).toEqual(names);
    }
  });

  it('registers only the command the arguments name, and every command for help or a name it does not know', async () => {
    const only = new Command('tca');
    await registerCommands(only, ['activate-now', '--json', 'aud_1']);
    expect(namesOf(only)).toEqual(['audiences', 'activate-now']);

    const all = COMMANDS.flatMap(([names]) => names);
    for (const args of [[], ['--help'], ['help', 'dataflows'], ['dataflow', 'list']]) {
      const program = new Command('tca');
      await registerCommands(program, args);
      expect(namesOf(program), args.join(' ')).toEqual(all);
    }
  });
});
