import {
  Agent,
  Dispatcher,
  ProxyAgent,
  getGlobalDispatcher,
  setGlobalDispatcher,
  type buildConnector,
} from 'undici';
import { outboundRoute, type OutboundProxy } from './outbound-proxy.ts';
import { socksConnector } from './socks.ts';
import { isSocksUrl, parseSocksProxy } from './socks-url.ts';

// The HTTP client is loaded only where a proxy is set: the settings (`outbound-proxy.ts`) are read by every command.

/** Sends each request through the proxy its origin calls for ({@link outboundRoute}), or directly. */
class OutboundDispatcher extends Dispatcher {
  readonly #direct = new Agent();
  /** By proxy URL: a `ProxyAgent` for an HTTP proxy, an `Agent` connecting through it for a SOCKS one. */
  readonly #proxies = new Map<string, Dispatcher>();
  readonly #route: (url: URL) => string | null;
  readonly #tls: buildConnector.BuildOptions;

  constructor(proxy: OutboundProxy, tls: buildConnector.BuildOptions) {
    super();
    this.#route = outboundRoute(proxy);
    this.#tls = tls;
  }

  #dispatcherFor(origin: URL): Dispatcher {
    const via = this.#route(origin);
    if (via === null) return this.#direct;
    let agent = this.#proxies.get(via);
    if (!agent) {
      agent = isSocksUrl(via)
        ? new Agent({ connect: socksConnector(parseSocksProxy(via), this.#tls) })
        : new ProxyAgent({ uri: via, requestTls: this.#tls });
      this.#proxies.set(via, agent);
    }
    return agent;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandlers): boolean {
    const origin = typeof options.origin === 'string' ? new URL(options.origin) : options.origin!;
    return this.#dispatcherFor(origin as URL).dispatch(options, handler);
  }

  override async close(): Promise<void> {
    await Promise.all([this.#direct.close(), ...[...this.#proxies.values()].map((p) => p.close())]);
  }

  override async destroy(): Promise<void> {
    await Promise.all([this.#direct.destroy(), ...[...this.#proxies.values()].map((p) => p.destroy())]);
  }
}

/**
 * Routes every `fetch` of this process by the settings, and returns a function that puts back the dispatcher it
 * replaced (for tests). `tls` adds TLS options for origins reached through a proxy (a test's CA; in production,
 * `NODE_EXTRA_CA_CERTS` serves).
 */
export function installOutboundProxy(
  proxy: OutboundProxy,
  tls: buildConnector.BuildOptions = {},
): () => Promise<void> {
  const previous = getGlobalDispatcher();
  const dispatcher = new OutboundDispatcher(proxy, tls);
  setGlobalDispatcher(dispatcher);
  return async () => {
    setGlobalDispatcher(previous);
    await dispatcher.close();
  };
}
