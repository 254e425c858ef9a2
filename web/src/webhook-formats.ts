import type { WebhookFormat } from './api.ts';

/**
 * The alert webhook formats as the console names them: `name` where a webhook is shown (the Destinations page,
 * Settings), `choice` where one is picked (the connection step).
 */
export const WEBHOOK_FORMATS: Record<WebhookFormat, { name: string; choice: string }> = {
  json: { name: 'JSON', choice: 'JSON notification (scripts, incident tools)' },
  slack: { name: 'Slack', choice: 'Slack incoming webhook' },
  teams: { name: 'Teams', choice: 'Microsoft Teams workflow (an Adaptive Card)' },
  'google-chat': { name: 'Google Chat', choice: 'Google Chat webhook' },
};
