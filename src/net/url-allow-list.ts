/**
 * Origins the service may fetch on a user's behalf (`TCA_IMPORT_URL_ALLOW`): a URL import makes the service request
 * whatever URL it is given, so without a list an API token could make it reach internal addresses. Each entry is an
 * origin (`https://storage.googleapis.com`, `http://10.0.0.5:8080`), or one whose host starts with `*.` for every
 * subdomain of it (`https://*.s3.amazonaws.com`, not the bare domain). Scheme and port must match too.
 */
export interface AllowedOrigin {
  protocol: 'http:' | 'https:';
  /** Lower-case host name without the `*.` of a wildcard. */
  host: string;
  /** True for `*.host`: any subdomain, not the host itself. */
  subdomains: boolean;
  /** The port, with the scheme's default spelled out. */
  port: string;
}

const DEFAULT_PORT: Record<string, string> = { 'http:': '80', 'https:': '443' };

const portOf = (url: URL): string => url.port || DEFAULT_PORT[url.protocol] || '';

/** Parses the comma-separated list; each entry that is not an origin is named in `problems`. */
export function parseUrlAllowList(raw: string | undefined): { origins: AllowedOrigin[]; problems: string[] } {
  const origins: AllowedOrigin[] = [];
  const problems: string[] = [];
  for (const entry of (raw ?? '').split(',').map((e) => e.trim())) {
    if (entry === '') continue;
    const wildcard = /^(https?:\/\/)\*\./i.exec(entry);
    let url: URL;
    try {
      // `*` is not a host character: parse the rest and remember the wildcard.
      url = new URL(wildcard ? `${wildcard[1]}${entry.slice(wildcard[0].length)}` : entry);
    } catch {
      problems.push(`"${entry}" is not an origin such as https://storage.googleapis.com`);
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      problems.push(`"${entry}" is not http or https`);
      continue;
    }
    if (
      url.username !== '' ||
      url.password !== '' ||
      url.pathname !== '/' ||
      url.search !== '' ||
      url.hash !== ''
    ) {
      problems.push(`"${entry}" has more than an origin (scheme, host and port only)`);
      continue;
    }
    origins.push({
      protocol: url.protocol,
      host: url.hostname.toLowerCase(),
      subdomains: wildcard !== null,
      port: portOf(url),
    });
  }
  return { origins, problems };
}

/** Whether the URL's origin is one of the allowed ones. */
export function isAllowedUrl(origins: readonly AllowedOrigin[], url: URL): boolean {
  const host = url.hostname.toLowerCase();
  const port = portOf(url);
  return origins.some(
    (o) =>
      o.protocol === url.protocol &&
      o.port === port &&
      (o.subdomains ? host.endsWith(`.${o.host}`) : host === o.host),
  );
}

/** The allowed origins as the settings and messages show them. */
export function describeAllowList(origins: readonly AllowedOrigin[]): string[] {
  return origins.map(
    (o) =>
      `${o.protocol}//${o.subdomains ? '*.' : ''}${o.host}${o.port === DEFAULT_PORT[o.protocol] ? '' : `:${o.port}`}`,
  );
}
