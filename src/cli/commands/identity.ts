import { Argument, Option, type Command } from 'commander';
import {
  normalizeIdentity,
  X_IDENTIFIER_TYPES,
  type DeviceKind,
  type IdentityResult,
  type XIdentifierType,
} from '../../identity/index.ts';

/** The JSON line `tca identity` prints: what X would receive, or why the value is refused. */
export function formatIdentityResult(result: IdentityResult): string {
  if (!result.ok) {
    return JSON.stringify({ type: result.type, error: { code: result.code, message: result.message } });
  }
  // partner_user_id is sent to X unhashed, so it has no digest to show.
  if (result.sha256 === null) return JSON.stringify({ type: result.type, normalized: result.normalized });
  return JSON.stringify({ type: result.type, normalized: result.normalized, sha256: result.sha256 });
}

/**
 * `tca identity <type> <value> [--region US] [--hashed] [--device-kind idfa]`: shows how one identifier is normalized
 * and hashed before it is sent to X, for debugging match rates. Exit 0 when accepted, 1 when refused.
 */
export function registerIdentityCommand(program: Command): void {
  program
    .command('identity')
    .description('Normalize and hash one identifier exactly as it would be sent to X')
    .addArgument(new Argument('<type>', 'identifier type').choices(X_IDENTIFIER_TYPES))
    .argument('<value>', 'the raw value (quote it; use -- before values that start with "-")')
    .option('--region <code>', 'default region for phone numbers without a +country code, e.g. US')
    .option('--hashed', 'the value is already a SHA-256 digest: check it, never hash it again')
    .addOption(
      new Option('--device-kind <kind>', 'device ID kind implied by the source').choices([
        'idfa',
        'gaid',
        'android_id',
      ]),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  tca identity email "  Jane.Doe+promo@Example.COM "\n  tca identity phone_number "(212) 555-0100" --region US\n  tca identity handle @AdsAPI',
    )
    .action((type: XIdentifierType, value: string, opts: IdentityCommandOptions) => {
      const { output, exitCode } = runIdentityCommand(type, value, opts);
      process.stdout.write(`${output}\n`);
      process.exitCode = exitCode;
    });
}

export interface IdentityCommandOptions {
  region?: string;
  hashed?: boolean;
  deviceKind?: DeviceKind;
}

/**
 * What `tca identity` prints and its exit code: 0 when the value is accepted, 1 when it is refused.
 *
 * @example
 * runIdentityCommand('handle', '@AdsAPI', {});
 * // { output: '{"type":"handle","normalized":"adsapi","sha256":"49e0be2a…"}', exitCode: 0 }
 */
export function runIdentityCommand(
  type: XIdentifierType,
  value: string,
  opts: IdentityCommandOptions,
): { output: string; exitCode: 0 | 1 } {
  const result = normalizeIdentity(type, value, {
    ...(opts.region === undefined ? {} : { region: opts.region }),
    ...(opts.hashed === true ? { hashed: true } : {}),
    ...(opts.deviceKind === undefined ? {} : { deviceKind: opts.deviceKind }),
  });
  return { output: formatIdentityResult(result), exitCode: result.ok ? 0 : 1 };
}
