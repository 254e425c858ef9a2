import type { Migration } from 'kysely';
import { coreMigration } from './0001-core.ts';
import { audienceEndRemovalMigration } from './0002-audience-end-removal.ts';
import { sandboxProfileKeysMigration } from './0003-sandbox-profile-keys.ts';
import { segmentLabelsMigration } from './0004-segment-labels.ts';
import { consentPoliciesMigration } from './0005-consent-policies.ts';
import { dataUsagePoliciesMigration } from './0006-data-usage-policies.ts';
import { fieldLabelsMigration } from './0007-field-labels.ts';
import { auditEventsMigration } from './0008-audit-events.ts';
import { auditEventsAtMigration } from './0009-audit-events-at.ts';
import { alertsMigration } from './0010-alerts.ts';
import { alertSilencesMigration } from './0011-alert-silences.ts';
import { alertAcknowledgementsMigration } from './0012-alert-acknowledgements.ts';
import { destinationAlertEmailsMigration } from './0013-destination-alert-emails.ts';
import { destinationWebhookFormatMigration } from './0014-destination-webhook-format.ts';
import { destinationPagerDutyKeyMigration } from './0015-destination-pagerduty-key.ts';
import { destinationAlertTypesMigration } from './0016-destination-alert-types.ts';
import { dataflowNoDataAlertMigration } from './0017-dataflow-no-data-alert.ts';
import { sandboxProfileRekeyMigration } from './0018-sandbox-profile-rekey.ts';
import { alertEpisodesMigration } from './0019-alert-episodes.ts';
import { engineLedgerMigration } from './0100-engine-ledger.ts';
import { engineLedgerExpiryIndexMigration } from './0101-engine-ledger-expiry-index.ts';
import { engineProfileIdsMigration } from './0102-engine-profile-ids.ts';
import { engineLedgerPendingOrderMigration } from './0103-engine-ledger-pending-order.ts';
import { engineAudienceEndClearedMigration } from './0104-engine-audience-end-cleared.ts';
import { engineInflightMigration } from './0105-engine-inflight.ts';
import { engineCompactIndexesMigration } from './0106-engine-compact-indexes.ts';
import { engineAudienceResendMigration } from './0107-engine-audience-resend.ts';
import { engineImportsMigration } from './0108-engine-imports.ts';
import { engineClusteredTablesMigration } from './0109-engine-clustered-tables.ts';
import { engineProfileKeyGenerationMigration } from './0110-engine-profile-key-generation.ts';
import { engineRunCounterLastAtMigration } from './0111-engine-run-counter-last-at.ts';
import { engineLedgerPendingRemovesMigration } from './0112-engine-ledger-pending-removes.ts';
import { engineLedgerRemovedExpiryMigration } from './0113-engine-ledger-removed-expiry.ts';
import { engineImportKeyGenerationMigration } from './0114-engine-import-key-generation.ts';
import { engineInflightUncompressedMigration } from './0115-engine-inflight-uncompressed.ts';
import { engineIngestRequestDigestMigration } from './0116-engine-ingest-request-digest.ts';
import { engineAudiencePausedMigration } from './0117-engine-audience-paused.ts';
import { sandboxProfileKeyAliasesMigration } from './0118-sandbox-profile-key-aliases.ts';
import { engineProfileAliasesMigration } from './0119-engine-profile-aliases.ts';

/**
 * Every migration, in the order it runs. Names sort in run order: the store owns 0001–0099, the engine 0100–0199.
 * Add one file per migration and one line here; never edit or rename a migration that has shipped.
 */
export const MIGRATIONS: ReadonlyArray<readonly [name: string, migration: Migration]> = [
  ['0001-core', coreMigration],
  ['0002-audience-end-removal', audienceEndRemovalMigration],
  ['0003-sandbox-profile-keys', sandboxProfileKeysMigration],
  ['0004-segment-labels', segmentLabelsMigration],
  ['0005-consent-policies', consentPoliciesMigration],
  ['0006-data-usage-policies', dataUsagePoliciesMigration],
  ['0007-field-labels', fieldLabelsMigration],
  ['0008-audit-events', auditEventsMigration],
  ['0009-audit-events-at', auditEventsAtMigration],
  ['0010-alerts', alertsMigration],
  ['0011-alert-silences', alertSilencesMigration],
  ['0012-alert-acknowledgements', alertAcknowledgementsMigration],
  ['0013-destination-alert-emails', destinationAlertEmailsMigration],
  ['0014-destination-webhook-format', destinationWebhookFormatMigration],
  ['0015-destination-pagerduty-key', destinationPagerDutyKeyMigration],
  ['0016-destination-alert-types', destinationAlertTypesMigration],
  ['0017-dataflow-no-data-alert', dataflowNoDataAlertMigration],
  ['0018-sandbox-profile-rekey', sandboxProfileRekeyMigration],
  ['0019-alert-episodes', alertEpisodesMigration],
  ['0100-engine-ledger', engineLedgerMigration],
  ['0101-engine-ledger-expiry-index', engineLedgerExpiryIndexMigration],
  ['0102-engine-profile-ids', engineProfileIdsMigration],
  ['0103-engine-ledger-pending-order', engineLedgerPendingOrderMigration],
  ['0104-engine-audience-end-cleared', engineAudienceEndClearedMigration],
  ['0105-engine-inflight', engineInflightMigration],
  ['0106-engine-compact-indexes', engineCompactIndexesMigration],
  ['0107-engine-audience-resend', engineAudienceResendMigration],
  ['0108-engine-imports', engineImportsMigration],
  ['0109-engine-clustered-tables', engineClusteredTablesMigration],
  ['0110-engine-profile-key-generation', engineProfileKeyGenerationMigration],
  ['0111-engine-run-counter-last-at', engineRunCounterLastAtMigration],
  ['0112-engine-ledger-pending-removes', engineLedgerPendingRemovesMigration],
  ['0113-engine-ledger-removed-expiry', engineLedgerRemovedExpiryMigration],
  ['0114-engine-import-key-generation', engineImportKeyGenerationMigration],
  ['0115-engine-inflight-uncompressed', engineInflightUncompressedMigration],
  ['0116-engine-ingest-request-digest', engineIngestRequestDigestMigration],
  ['0117-engine-audience-paused', engineAudiencePausedMigration],
  ['0118-sandbox-profile-key-aliases', sandboxProfileKeyAliasesMigration],
  ['0119-engine-profile-aliases', engineProfileAliasesMigration],
];
