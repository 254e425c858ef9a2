import type { Command } from 'commander';
import type { ErasureResult } from '../../engine/erasure.ts';
import {
  action,
  CliError,
  connect,
  examples,
  EXIT,
  printJson,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';

/** `tca erase NAMESPACE=ID…`: a privacy request that erases the profiles those identities name. */
export function registerEraseCommand(program: Command): void {
  withConnection(
    program
      .command('erase <identities...>')
      .description(
        'A privacy request: erase the profiles named by identities in a profile key namespace (ECID, CRMID by ' +
          'default) or in a namespace a mapping reads (Email, say) from every audience and from storage; the next ' +
          'delivery removes them from X',
      )
      .addHelpText(
        'after',
        examples([
          'tca erase ECID=45678901234567890123456789012345678901',
          'tca erase CRMID=c-1001 Email=jane.doe@example.com --json',
        ]),
      ),
  ).action(
    action(async (args: string[], opts: GlobalOptions) => {
      const identities = args.map((arg) => {
        const at = arg.indexOf('=');
        if (at <= 0 || at === arg.length - 1)
          throw new CliError(`"${arg}" is not NAMESPACE=ID (ECID=4567…, say)`, EXIT.usage);
        return { namespace: arg.slice(0, at), id: arg.slice(at + 1) };
      });
      const api = await connect(opts);
      const r = await api.request<ErasureResult>('POST', '/api/v1/privacy/erasures', { identities });
      if (opts.json) printJson(r);
      else {
        process.stdout.write(
          `Erased ${r.profiles} profile(s); ${r.audiences} audience membership(s) leave X with the next delivery; ` +
            `${r.notFound} identit${r.notFound === 1 ? 'y' : 'ies'} matched no profile\n`,
        );
        for (const s of r.skipped) process.stdout.write(`skipped ${args[s.index]}: ${s.reason}\n`);
      }
      // An identity that could not be looked for (a namespace nothing reads, an identifier that is not one) is a
      // request not carried out: a script handling privacy requests must hear of it. No profile found is an answer.
      return r.skipped.length > 0 ? EXIT.refused : EXIT.ok;
    }),
  );
}
