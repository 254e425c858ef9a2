import nodemailer from 'nodemailer';
import type { Socket } from 'node:net';
import { parseConnectionUrl } from 'nodemailer/lib/shared/index.js';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { describeNetworkFailure } from '../net/network-failure.ts';
import { openSocksTunnel } from '../net/socks.ts';
import { isSocksUrl, parseSocksProxy } from '../net/socks-url.ts';
import type { Alert } from './alerts.ts';

/** Alert emails: who gets them, from whom, and the SMTP server that sends them (its URL may hold credentials). */
export interface AlertEmail {
  to: string[];
  from: string;
  smtpUrl: string;
  /**
   * The egress proxy the SMTP server is reached through (an HTTP CONNECT tunnel, or a SOCKS connection), when it is
   * not reached directly.
   */
  proxy?: string | undefined;
}

/** An outbox target that is an email to these recipients (`mailto:a@x,b@y`), not a webhook. */
export const EMAIL_PREFIX = 'mailto:';

export const emailTarget = (to: readonly string[]): string => `${EMAIL_PREFIX}${to.join(',')}`;

/** The SMTP server as logs and the settings may show it: scheme, host and port, never its credentials. */
export function smtpOrigin(smtpUrl: string): string {
  const u = new URL(smtpUrl);
  return `${u.protocol}//${u.host}`;
}

/** Subject and plain-text body of an alert's email: the one-line text, then every fact a reader acts on. */
export function composeEmail(alert: Alert): { subject: string; text: string } {
  const oneLine = alert.text.replace(/\s+/g, ' ').trim();
  const subject = oneLine.length > 200 ? `${oneLine.slice(0, 199)}…` : oneLine;
  const state =
    alert.status === 'acknowledged'
      ? `acknowledged by ${alert.acknowledgedBy ?? 'someone'}, still firing`
      : alert.reminder
        ? 'still firing (a reminder)'
        : alert.status;
  const lines = [
    alert.message,
    '',
    `Alert:       ${alert.type} (${alert.severity}), ${state}`,
    `Sandbox:     ${alert.sandbox}`,
  ];
  if (alert.dataflowId !== '') lines.push(`Dataflow:    ${alert.dataflowName} (${alert.dataflowId})`);
  if (alert.destinationId !== '') lines.push(`Destination: ${alert.destinationId}`);
  lines.push(`Fired at:    ${alert.firedAt}`);
  if (alert.acknowledgedAt)
    lines.push(`Acknowledged: ${alert.acknowledgedAt} by ${alert.acknowledgedBy ?? ''}`);
  if (alert.resolvedAt) lines.push(`Resolved at: ${alert.resolvedAt}`);
  lines.push(`Alert id:    ${alert.alertId}`);
  const details = Object.entries(alert.details);
  if (details.length > 0) {
    lines.push('', 'Details:');
    for (const [key, value] of details)
      lines.push(`  ${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  if (alert.status === 'firing' && alert.type !== 'test')
    lines.push(
      '',
      `Taking it on? tca alerts ack ${alert.alertId} (or Acknowledge in the console) stops the reminders.`,
    );
  lines.push('', '-- x-custom-audiences');
  return { subject, text: lines.join('\n') + '\n' };
}

const TIMEOUT_MS = 15_000;

/**
 * A transport to the SMTP server that gives up on a connection, greeting or reply after `timeoutMs`, through the
 * egress proxy when there is one. Made from the URL's options plus these: options given next to a URL string are
 * message defaults to nodemailer (its timeouts would not apply), and an options object with a `url` keeps only it.
 */
function transportTo(email: AlertEmail, timeoutMs: number) {
  const transport = nodemailer.createTransport({
    ...parseConnectionUrl(email.smtpUrl),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    ...(email.proxy ? { proxy: email.proxy } : {}),
  } as SMTPTransport.Options);
  // nodemailer speaks HTTP CONNECT itself; a SOCKS proxy is reached by the connector `fetch` uses too, so both
  // resolve names and authenticate alike.
  if (email.proxy && isSocksUrl(email.proxy)) {
    const proxy = parseSocksProxy(email.proxy);
    const handler = (
      _proxy: unknown,
      target: { host: string; port: number },
      callback: (error: Error | null, socket?: { connection: Socket }) => void,
    ) =>
      void openSocksTunnel(proxy, target.host, target.port).then(
        (connection) => callback(null, { connection }),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    const scheme = new URL(email.proxy).protocol.slice(0, -1).toLowerCase();
    transport.set(`proxy_handler_${scheme}`, handler);
  }
  return transport;
}

/** Sends alert emails through one SMTP server, a connection per message; `close` ends it. */
export function createMailer(email: AlertEmail): {
  /** Sends the alert to `to` (comma-separated); null when the server accepted it, else why not. */
  send(alert: Alert, to: string): Promise<string | null>;
  close(): void;
} {
  const transport = transportTo(email, TIMEOUT_MS);
  return {
    async send(alert, to) {
      const { subject, text } = composeEmail(alert);
      try {
        await transport.sendMail({
          from: email.from,
          to,
          subject,
          text,
          // The same notification sent again (a retry after a lost answer) carries the same Message-ID.
          messageId: `<${alert.id}@x-custom-audiences>`,
          headers: { 'X-TCA-Alert-Id': alert.alertId, 'X-TCA-Alert-Status': alert.status },
        });
        return null;
      } catch (error) {
        return smtpFailure(email, error);
      }
    },
    close: () => transport.close(),
  };
}

/** Why the SMTP server did not take a message: its reply code and text, or the connection failure. */
function smtpFailure(email: AlertEmail, error: unknown): string {
  const e = error as { message?: string; responseCode?: number };
  // A proxy's refusal in words (a SOCKS reply code, failed credentials), as for any other outbound request.
  const reason = e.responseCode ? e.message : describeNetworkFailure(error).reason;
  return `SMTP ${smtpOrigin(email.smtpUrl)}: ${e.responseCode ? `${e.responseCode} ` : ''}${reason ?? String(error)}`;
}

/** Connects to the SMTP server and logs in, sending nothing: null when that works, else why not. */
export async function verifySmtp(email: AlertEmail, timeoutMs = 5_000): Promise<string | null> {
  const transport = transportTo(email, timeoutMs);
  try {
    await transport.verify();
    return null;
  } catch (error) {
    return smtpFailure(email, error);
  } finally {
    transport.close();
  }
}
