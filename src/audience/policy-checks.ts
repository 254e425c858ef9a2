/** A problem with one field of a policy set, at its JSON path. */
export interface PolicyProblem {
  path: string;
  reason: string;
}

const POLICY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The name and id of one policy of a set being checked (consent policies, a sandbox's data-usage policies): the name
 * trimmed, 1–100 characters and not taken (`seen.names` holds lower-case names already used), the id kept (letters,
 * digits, _ and -) or made by `newId`, each used once in the set. Problems go to `problems` at `at.name` and `at.id`.
 */
export function checkPolicyNameAndId(
  policy: { name: string; id?: string | undefined },
  at: string,
  seen: { names: Set<string>; ids: Set<string> },
  newId: () => string,
  problems: PolicyProblem[],
  taken: (name: string) => string,
): { id: string; name: string } {
  const name = policy.name.trim();
  if (name === '' || name.length > 100)
    problems.push({ path: `${at}.name`, reason: 'give 1 to 100 characters' });
  else if (seen.names.has(name.toLowerCase())) problems.push({ path: `${at}.name`, reason: taken(name) });
  seen.names.add(name.toLowerCase());
  if (policy.id !== undefined && !POLICY_ID.test(policy.id))
    problems.push({
      path: `${at}.id`,
      reason: 'letters, digits, _ and - only (1–64); leave it out for a new policy',
    });
  const id = policy.id ?? newId();
  if (seen.ids.has(id)) problems.push({ path: `${at}.id`, reason: `${id} is used twice` });
  seen.ids.add(id);
  return { id, name };
}
