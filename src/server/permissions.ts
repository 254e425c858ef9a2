/**
 * Token permissions, named as Adobe Experience Platform names its destination permissions, plus the ones this service
 * needs of its own (ingest, segments, tokens, sandboxes).
 */
export const PERMISSIONS = [
  'View Destinations',
  'Manage Destinations',
  'Activate Destinations',
  'View Profiles',
  'View Segments',
  'Manage Segments',
  'View Identity Graph',
  'Ingest Profiles',
  'Manage Tokens',
  'Manage Sandboxes',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export const PERMISSION_DESCRIPTIONS: Record<Permission, string> = {
  'View Destinations': 'Read destinations, dataflows, plans, runs and audiences.',
  'Manage Destinations': 'Create, change, verify, log in and delete destinations.',
  'Activate Destinations': 'Create, change, pause, flush and delete dataflows; replay dead letters.',
  'View Profiles': 'Needed with Activate Destinations to activate profiles (as in AEP).',
  'View Segments': 'Read segments.',
  'Manage Segments': 'Create, change and delete segments.',
  'View Identity Graph': 'Read dead letters (hashed identities and X errors).',
  'Ingest Profiles': 'Send profile exports to /api/v1/ingest/profiles.',
  'Manage Tokens': "Create, list and revoke the sandbox's API tokens; read its audit trail.",
  'Manage Sandboxes': 'Create sandboxes and tokens in any sandbox (the admin token).',
};

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}
