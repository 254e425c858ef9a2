import { BlockList, isIP } from 'node:net';
// A proxy setting that cannot be used is named as `loadConfig` names any bad variable.
import type { ConfigProblem } from '../config/load-config.ts';
import { isSocksUrl } from './socks-url.ts';

/**
 * Outbound HTTP through a corporate proxy, configured as most tools are: `HTTPS_PROXY` for https URLs, `HTTP_PROXY`
 * for http URLs, `ALL_PROXY` for either when its own is not set (each also lowercase, which wins), and `NO_PROXY` for
 * the hosts reached directly. A proxy is an HTTP proxy that tunnels (CONNECT), or a SOCKS proxy: SOCKS5 (`socks5://`,
 * or `socks5h://` to have it resolve host names) or SOCKS4 (`socks4://`, or `socks4a://` likewise; see `socks.ts`).
 * Every request the product makes with `fetch` (X's API, signed-URL imports, the audit collector, alert webhooks, the
 * CLI's calls to the service) follows it once `installOutboundProxy` (`outbound-dispatcher.ts`) has run.
 *
 * Loopback (`localhost`, `*.localhost`, 127.0.0.0/8, ::1) is always reached directly: a proxy's loopback is the proxy
 * itself, never this machine's.
 */
export interface OutboundProxy {
  /** For http URLs, or null (direct). */
  http: string | null;
  /** For https URLs, or null (direct). */
  https: string | null;
  /** `NO_PROXY` entries as given (hosts, `.domain` or `*.domain` suffixes, `host:port`, IP ranges, or `*`). */
  noProxy: string[];
}

type Env = Record<string, string | undefined>;

function read(env: Env, name: string): { variable: string; value: string } | null {
  for (const variable of [name.toLowerCase(), name]) {
    const value = env[variable]?.trim();
    if (value) return { variable, value };
  }
  return null;
}

/** The proxy URL with its password (and user) replaced: what messages, logs and the settings API show. */
export function redactProxyUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username === '' && url.password === '') return raw.replace(/\/+$/, '');
    url.username = '***';
    url.password = '';
    return url.toString().replace(/\/+$/, '');
  } catch {
    // Not a URL: hide whatever sits before an `@`, where credentials would be.
    return raw.replace(
      /^([a-z][a-z0-9+.-]*:\/\/)?[^@/]*@/i,
      (_m, scheme: string | undefined) => `${scheme ?? ''}***@`,
    );
  }
}

function proxyUrl(setting: { variable: string; value: string }, problems: ConfigProblem[]): string | null {
  const shown = redactProxyUrl(setting.value);
  // `proxy:3128` and `10.0.0.5:3128` are common shorthands for an http proxy.
  const raw = /^[a-z][a-z0-9+.-]*:\/\//i.test(setting.value) ? setting.value : `http://${setting.value}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push({
      variable: setting.variable,
      message: `must be a proxy URL (got "${shown}"); for example ${setting.variable}=http://proxy.example.com:3128`,
    });
    return null;
  }
  if (isSocksUrl(raw) && url.protocol.startsWith('socks4') && url.password !== '') {
    problems.push({
      variable: setting.variable,
      message: `is a SOCKS4 proxy with a password ("${shown}"), which SOCKS4 cannot send (it sends a user id only): drop the password (${url.protocol}//userid@host:port), or give a SOCKS5 proxy, which takes a user and password (socks5h://user:password@host:port)`,
    });
    return null;
  }
  if (url.protocol === 'http:' || url.protocol === 'https:' || isSocksUrl(raw)) return raw;
  problems.push({
    variable: setting.variable,
    message: url.protocol.startsWith('socks')
      ? `is a ${url.protocol.slice(0, -1)} proxy ("${shown}"), which is not a scheme this product knows: give socks5h:// or socks4a:// (the proxy resolves host names), socks5:// or socks4:// (this machine resolves them), or an HTTP proxy that accepts CONNECT`
      : `must be an http, https, socks5, socks5h, socks4 or socks4a URL (got "${shown}"); for example ${setting.variable}=http://proxy.example.com:3128`,
  });
  return null;
}

/**
 * Reads the proxy settings from the environment: null when no proxy is set. Bad values are returned as problems
 * (with any password hidden) rather than ignored, since a request that silently skips the proxy fails in a way that
 * is hard to trace.
 */
export function outboundProxyFromEnv(env: Env): { proxy: OutboundProxy | null; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  // ALL_PROXY (curl's name) stands in for a scheme whose own variable is not set.
  const allSetting = read(env, 'ALL_PROXY');
  const httpSetting = read(env, 'HTTP_PROXY') ?? allSetting;
  const httpsSetting = read(env, 'HTTPS_PROXY') ?? allSetting;
  const http = httpSetting ? proxyUrl(httpSetting, problems) : null;
  // One problem for ALL_PROXY, not one per scheme it stands in for.
  const https = httpsSetting
    ? httpsSetting === httpSetting
      ? http
      : proxyUrl(httpsSetting, problems)
    : null;
  const noProxy = (read(env, 'NO_PROXY')?.value ?? '').split(/[\s,]+/).filter((entry) => entry !== '');
  if (problems.length > 0 || (http === null && https === null)) return { proxy: null, problems };
  return { proxy: { http, https, noProxy }, problems };
}

/** The settings as the service shows them: proxies without credentials. */
export function describeOutboundProxy(proxy: OutboundProxy): {
  http: string | null;
  https: string | null;
  noProxy: string[];
} {
  return {
    http: proxy.http && redactProxyUrl(proxy.http),
    https: proxy.https && redactProxyUrl(proxy.https),
    noProxy: proxy.noProxy,
  };
}

/** The `BlockList` family of an IP address, or null for a host name. */
function ipFamily(host: string): 'ipv4' | 'ipv6' | null {
  const version = isIP(host);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : null;
}

interface NoProxyRule {
  /** A lowercase host name or IP address; a name matches itself and its subdomains. */
  host: string;
  /** 0 for any port. */
  port: number;
}

/** The NO_PROXY entries, compiled: `*`, host names and domain suffixes, `host:port`, IP addresses and CIDR ranges. */
function compileNoProxy(entries: readonly string[]): (host: string, port: number) => boolean {
  let all = false;
  const rules: NoProxyRule[] = [];
  const ranges = new BlockList();
  for (const entry of entries.map((e) => e.toLowerCase())) {
    if (entry === '*') {
      all = true;
      continue;
    }
    const cidr = /^\[?([0-9a-f.:]+)\]?\/(\d{1,3})$/.exec(entry);
    const family = cidr ? ipFamily(cidr[1]!) : null;
    if (cidr && family) {
      ranges.addSubnet(cidr[1]!, Number(cidr[2]), family);
      continue;
    }
    // `[::1]:8080`, `host:8080`, a bare IPv6 address, or a bare host.
    const bracketed = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(entry);
    const withPort = bracketed ? null : /^([^:]+):(\d+)$/.exec(entry);
    const host = bracketed ? bracketed[1]! : withPort ? withPort[1]! : entry;
    const port = Number((bracketed ? bracketed[2] : withPort?.[2]) ?? 0);
    rules.push({ host: host.replace(/^\*?\./, ''), port });
  }
  return (host, port) => {
    if (all) return true;
    const family = ipFamily(host);
    if (family && ranges.check(host, family)) return true;
    return rules.some(
      (rule) =>
        (rule.port === 0 || rule.port === port) &&
        (host === rule.host || (family === null && host.endsWith(`.${rule.host}`))),
    );
  };
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** A URL's host as matched here: lower case, an IPv6 address without its brackets. */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();

/** Whether a URL names this machine (`localhost`, 127.0.0.0/8, ::1): reached directly, whatever the proxy. */
export function isLoopbackUrl(url: URL): boolean {
  return isLoopback(hostOf(url));
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = ipFamily(host);
  return family !== null && LOOPBACK.check(host, family);
}

/**
 * How URLs are reached under the settings: each URL's proxy, or null for a direct connection.
 *
 * @example
 * const route = outboundRoute({ http: null, https: 'http://proxy:3128', noProxy: ['.corp.example'] });
 * route(new URL('https://ads-api.x.com/12/accounts')); // 'http://proxy:3128'
 * route(new URL('https://siem.corp.example/ingest')); // null
 */
export function outboundRoute(proxy: OutboundProxy): (url: URL) => string | null {
  const bypass = compileNoProxy(proxy.noProxy);
  return (url) => {
    const via = url.protocol === 'https:' ? proxy.https : url.protocol === 'http:' ? proxy.http : null;
    if (via === null) return null;
    const host = hostOf(url);
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    return isLoopback(host) || bypass(host, port) ? null : via;
  };
}

/**
 * The proxy an SMTP server is reached through, or null for a direct connection. SMTP is tunnelled like https (HTTP
 * CONNECT, or a SOCKS connection): through the https proxy, else the http one; loopback and `NO_PROXY` hosts are
 * reached directly.
 *
 * @example
 * smtpRoute({ http: null, https: 'http://proxy:3128', noProxy: [] }, 'smtps://u:p@smtp.example.com'); // 'http://proxy:3128'
 */
export function smtpRoute(proxy: OutboundProxy, smtpUrl: string): string | null {
  const via = proxy.https ?? proxy.http;
  if (via === null) return null;
  const url = new URL(smtpUrl);
  const host = hostOf(url);
  // What the mailer connects to when the URL names no port.
  const port = Number(url.port || (url.protocol === 'smtps:' ? 465 : 587));
  return isLoopback(host) || compileNoProxy(proxy.noProxy)(host, port) ? null : via;
}
