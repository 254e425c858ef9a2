/**
 * The kinds of identities runs may be filtered by (`GET …/runs?with=`, `tca runs --with`, the console's Show), and the
 * run field that counts each: a run is shown when that count is above zero.
 */
export const RUN_FILTERS = {
  failed: 'identitiesFailed',
  excluded: 'identitiesExcluded',
  activated: 'identitiesActivated',
} as const;

export type RunFilter = keyof typeof RUN_FILTERS;

export const RUN_FILTER_KINDS = Object.keys(RUN_FILTERS) as [RunFilter, ...RunFilter[]];
