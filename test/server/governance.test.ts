import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, startTestService, type Json, type TestService } from './harness.ts';

// Data-usage labels against marketing actions, over the API: checked at activation and on every later change.

let t: TestService;
let destinationId: string;
const call = (method: string, path: string, body?: unknown) =>
  t.call(method, path, { token: t.adminToken, ...(body === undefined ? {} : { body }) });
const dataflow = (segmentIds: string[]) => ({
  name: `Governed ${segmentIds.join(' ')}`,
  destinationId,
  mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
  audiences: segmentIds.map((segmentId) => ({ segmentId })),
});
const violations = (r: { status: number; body: Json }) => {
  expect(r.status, JSON.stringify(r.body)).toBe(409);
  expect(r.body.error.code).toBe('policy_violation');
  return r.body.error.details as Array<{ path: string; reason: string }>;
};

beforeAll(async () => {
  t = await startTestService();
  await call('POST', '/api/v1/segments', { id: 'seg-open', name: 'Open' });
  await call('POST', '/api/v1/segments', {
    id: 'seg-no-third',
    name: 'No third parties',
    labels: ['c2', 'I1'],
  });
  await call('POST', '/api/v1/segments', { id: 'seg-no-export', name: 'Never exported', labels: ['C12'] });
  const d = await call('POST', '/api/v1/destinations', {
    name: 'Acme',
    accountId: DEMO.accountId,
    credentials: DEMO.credentials,
    marketingActions: ['Export to Third Party'],
    alertWebhookUrl: null,
  });
  destinationId = d.body.id;
});

afterAll(async () => {
  await t?.close();
});

describe('data governance', () => {
  it('stores labels upper case and refuses malformed ones', async () => {
    const listed = await call('GET', '/api/v1/segments');
    expect(listed.body.items.find((s: Json) => s.id === 'seg-no-third').labels).toEqual(['C2', 'I1']);
    const bad = await call('POST', '/api/v1/segments', { id: 'seg-bad', name: 'Bad', labels: ['C 2'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('labels[0]');
  });

  it('refuses to activate a segment whose labels forbid what the destination is used for, and creates nothing', async () => {
    const refused = violations(
      await call('POST', '/api/v1/dataflows', dataflow(['seg-open', 'seg-no-third', 'seg-no-export'])),
    );
    expect(refused.map((v) => v.path)).toEqual(['audiences[1].segmentId', 'audiences[2].segmentId']);
    expect(refused[0]!.reason).toContain('Export to Third Party');
    expect(refused[1]!.reason).toContain('C12');
    expect((await call('GET', '/api/v1/dataflows')).body.items).toEqual([]);
  });

  it('activates once the action is gone, then refuses changes that would break the policy', async () => {
    expect(
      (await call('PATCH', `/api/v1/destinations/${destinationId}`, { marketingActions: [] })).status,
    ).toBe(200);
    const created = await call('POST', '/api/v1/dataflows', dataflow(['seg-open', 'seg-no-third']));
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    // The destination may not take up an action the activated segment's labels forbid.
    const action = violations(
      await call('PATCH', `/api/v1/destinations/${destinationId}`, {
        marketingActions: ['Export to Third Party', 'Analytics'],
      }),
    );
    expect(action).toEqual([
      { path: 'marketingActions', reason: expect.stringContaining('No third parties') },
    ]);
    expect((await call('GET', `/api/v1/destinations/${destinationId}`)).body.marketingActions).toEqual([]);
    expect(
      (
        await call('PATCH', `/api/v1/destinations/${destinationId}`, {
          marketingActions: ['Cross Site Targeting'],
        })
      ).status,
    ).toBe(200);

    // An activated segment may not take a label that forbids an action of its destination.
    const label = violations(await call('PATCH', '/api/v1/segments/seg-open', { labels: ['C5'] }));
    expect(label[0]).toEqual({ path: 'labels', reason: expect.stringContaining('Cross Site Targeting') });
    expect(
      (await call('GET', '/api/v1/segments')).body.items.find((s: Json) => s.id === 'seg-open').labels,
    ).toEqual([]);
    // A label that forbids nothing here is fine.
    const fine = await call('PATCH', '/api/v1/segments/seg-open', { labels: ['C9'], description: 'scored' });
    expect(fine.status).toBe(200);
    expect(fine.body).toMatchObject({ labels: ['C9'], description: 'scored' });

    // Adding a forbidden segment to the dataflow later is refused too.
    const flowId = created.body.id as string;
    await call('PATCH', '/api/v1/segments/seg-no-export', { labels: ['C5'] });
    const added = violations(
      await call('PATCH', `/api/v1/dataflows/${flowId}`, {
        audiences: [{ segmentId: 'seg-open' }, { segmentId: 'seg-no-third' }, { segmentId: 'seg-no-export' }],
      }),
    );
    expect(added.map((v) => v.path)).toEqual(['audiences[2].segmentId']);
    expect((await call('GET', `/api/v1/dataflows/${flowId}`)).body.audiences).toHaveLength(2);
  });

  it("checks the sandbox's own policies: refused when an activation breaks them, then enforced until switched off", async () => {
    const listed = await call('GET', '/api/v1/data-usage-policies');
    expect(listed.body.core).toHaveLength(10);
    expect(listed.body.core[0]).toEqual({
      name: 'No export of individual identifiers',
      action: null,
      labels: ['C1', 'C12'],
    });
    expect(listed.body.custom).toEqual([]);

    const bad = await call('PUT', '/api/v1/data-usage-policies', {
      policies: [{ name: 'restrict analytics', action: ' ', labels: ['C 9'] }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path)).toEqual([
      'policies[0].name',
      'policies[0].action',
      'policies[0].labels[0]',
    ]);

    // seg-no-third (I1) is activated to a destination used for cross-site targeting: this policy would be broken.
    const broken = violations(
      await call('PUT', '/api/v1/data-usage-policies', {
        policies: [
          { name: 'No targeting of identifiable data', action: 'Cross Site Targeting', labels: ['I1'] },
        ],
      }),
    );
    expect(broken).toEqual([
      { path: 'policies', reason: expect.stringMatching(/No third parties.*I1.*destination "Acme"/) },
    ]);
    expect((await call('GET', '/api/v1/data-usage-policies')).body.custom).toEqual([]);

    const set = await call('PUT', '/api/v1/data-usage-policies', {
      policies: [
        { name: 'Scores stay out of targeting', action: 'cross site targeting', labels: ['my-score'] },
      ],
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const [own] = set.body.custom as Array<{ id: string }>;
    expect(own).toEqual({
      id: expect.stringMatching(/^dup_/),
      name: 'Scores stay out of targeting',
      // A core action in another case is stored in its core spelling.
      action: 'Cross Site Targeting',
      labels: ['MY-SCORE'],
      enabled: true,
    });

    const refused = violations(
      await call('PATCH', '/api/v1/segments/seg-open', { labels: ['C9', 'my-score'] }),
    );
    expect(refused[0]!.reason).toMatch(/^Scores stay out of targeting: .*MY-SCORE \(a label of your own\)/);
    const off = await call('PUT', '/api/v1/data-usage-policies', { policies: [{ ...own, enabled: false }] });
    expect(off.status).toBe(200);
    expect((await call('PATCH', '/api/v1/segments/seg-open', { labels: ['C9', 'my-score'] })).status).toBe(
      200,
    );
  });

  it('checks the labels of mapped fields: at mapping, on marketing-action changes, and when labels or policies change', async () => {
    expect((await call('GET', '/api/v1/field-labels')).body).toEqual({ fields: [] });
    const bad = await call('PUT', '/api/v1/field-labels', {
      fields: [
        { sourceType: 'column', source: ' ', labels: ['C5'] },
        { sourceType: 'namespace', source: 'Email', labels: ['C 5'] },
        { sourceType: 'namespace', source: 'EMAIL', labels: ['C5'] },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path)).toEqual([
      'fields[0].sourceType',
      'fields[0].source',
      'fields[1].labels[0]',
      'fields[2].source',
    ]);

    const destination = async (name: string, marketingActions: string[]) =>
      (
        await call('POST', '/api/v1/destinations', {
          name,
          accountId: DEMO.accountId,
          credentials: DEMO.credentials,
          marketingActions,
          alertWebhookUrl: null,
        })
      ).body.id as string;
    const targeting = await destination('Targeting', ['Cross Site Targeting']);
    const email = {
      sourceType: 'attribute',
      source: 'personalEmail.address',
      target: 'email',
      applyTransformation: true,
    };
    const phone = {
      sourceType: 'namespace',
      source: 'Phone_E.164',
      target: 'phone_number',
      applyTransformation: true,
    };
    const flow = await call('POST', '/api/v1/dataflows', {
      name: 'Emails to targeting',
      destinationId: targeting,
      mapping: [email],
      audiences: [{ segmentId: 'seg-open', mappingName: 'Open for targeting' }],
    });
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);

    // C5 on the email attribute: the dataflow in place exports it to a destination used for cross-site targeting.
    const labels = { fields: [{ sourceType: 'attribute', source: 'personalEmail.address', labels: ['c5'] }] };
    const refused = violations(await call('PUT', '/api/v1/field-labels', labels));
    expect(refused).toEqual([
      {
        path: 'fields',
        reason: expect.stringContaining('the mapping exports personalEmail.address, labelled C5'),
      },
    ]);
    expect(refused[0]!.reason).toContain('dataflow "Emails to targeting"');
    expect((await call('GET', '/api/v1/field-labels')).body.fields).toEqual([]);

    // Used for analytics instead, the labels are accepted; the action cannot come back while Email is mapped.
    expect(
      (await call('PATCH', `/api/v1/destinations/${targeting}`, { marketingActions: ['Analytics'] })).status,
    ).toBe(200);
    const set = await call('PUT', '/api/v1/field-labels', labels);
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.fields).toEqual([
      { sourceType: 'attribute', source: 'personalEmail.address', labels: ['C5'] },
    ]);
    const back = violations(
      await call('PATCH', `/api/v1/destinations/${targeting}`, {
        marketingActions: ['Cross Site Targeting'],
      }),
    );
    expect(back.map((v) => v.path)).toEqual(['marketingActions']);
    expect(back[0]!.reason).toContain('mapping row 1');

    // A new dataflow to a targeting destination may map the phone, not the email.
    const other = await destination('Targeting too', ['cross site targeting']);
    const mapped = violations(
      await call('POST', '/api/v1/dataflows', {
        name: 'Both to targeting',
        destinationId: other,
        mapping: [phone, email],
        audiences: [{ segmentId: 'seg-open', mappingName: 'Open too' }],
      }),
    );
    expect(mapped.map((v) => v.path)).toEqual(['mapping[1].source']);
    const phones = await call('POST', '/api/v1/dataflows', {
      name: 'Phones to targeting',
      destinationId: other,
      mapping: [phone],
      audiences: [{ segmentId: 'seg-open', mappingName: 'Open too' }],
    });
    expect(phones.status, JSON.stringify(phones.body)).toBe(201);
    const remapped = violations(
      await call('PATCH', `/api/v1/dataflows/${phones.body.id}`, { mapping: [phone, email] }),
    );
    expect(remapped.map((v) => v.path)).toEqual(['mapping[1].source']);

    // A policy of the sandbox's own is checked against labelled fields too.
    const policy = violations(
      await call('PUT', '/api/v1/data-usage-policies', {
        policies: [{ name: 'No analytics on C5 data', action: 'Analytics', labels: ['C5'] }],
      }),
    );
    expect(policy[0]!.reason).toContain('dataflow "Emails to targeting"');
    expect((await call('PUT', '/api/v1/field-labels', { fields: [] })).status).toBe(200);
  });

  it('refuses once with every violation, each naming its dataflow and destination, and changes nothing', async () => {
    const destination = async (name: string, marketingActions: string[]) => {
      const d = await call('POST', '/api/v1/destinations', {
        name,
        accountId: DEMO.accountId,
        credentials: DEMO.credentials,
        marketingActions,
        alertWebhookUrl: null,
      });
      expect(d.status, JSON.stringify(d.body)).toBe(201);
      return d.body.id as string;
    };
    const flow = async (body: Json) => {
      const r = await call('POST', '/api/v1/dataflows', body);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body.id as string;
    };
    const emailRow = { sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true };
    const phoneRow = {
      sourceType: 'namespace',
      source: 'Phone',
      target: 'phone_number',
      applyTransformation: true,
    };
    const onsite = await destination('Onsite ads', ['Onsite Advertising']);
    const thirdParty = await destination('Third-party targeting', [
      'Export to Third Party',
      'Cross Site Targeting',
    ]);
    await call('POST', '/api/v1/segments', { id: 'seg-shared', name: 'Shared' });
    await flow({
      name: 'Shared onsite',
      destinationId: onsite,
      mapping: [emailRow],
      audiences: [{ segmentId: 'seg-shared', mappingName: 'Shared onsite' }],
    });
    const shared = await flow({
      name: 'Shared to third parties',
      destinationId: thirdParty,
      mapping: [emailRow],
      audiences: [{ segmentId: 'seg-shared', mappingName: 'Shared third' }],
    });

    // New labels on a segment two dataflows activate: every (dataflow, label, action) they forbid.
    const labelled = violations(await call('PATCH', '/api/v1/segments/seg-shared', { labels: ['C2', 'C4'] }));
    expect(labelled.map((v) => v.path)).toEqual(['labels', 'labels', 'labels']);
    const reasons = labelled.map((v) => v.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /C4 .*"Onsite Advertising".*dataflow "Shared onsite" to destination "Onsite ads"/,
        ),
        expect.stringMatching(
          /C2 .*"Export to Third Party".*dataflow "Shared to third parties" to destination "Third-party targeting"/,
        ),
        expect.stringMatching(
          /C4 .*"Cross Site Targeting".*dataflow "Shared to third parties" to destination "Third-party targeting"/,
        ),
      ]),
    );
    expect(
      (await call('GET', '/api/v1/segments')).body.items.find((s: Json) => s.id === 'seg-shared').labels,
    ).toEqual([]);

    // New marketing actions that a segment label and a mapped field label forbid: both, at once.
    await call('POST', '/api/v1/segments', { id: 'seg-private', name: 'Private', labels: ['C2'] });
    const analytics = await destination('Analytics only', ['Analytics']);
    await flow({
      name: 'Private phones',
      destinationId: analytics,
      mapping: [phoneRow],
      audiences: [{ segmentId: 'seg-private', mappingName: 'Private phones' }],
    });
    const phoneLabels = { fields: [{ sourceType: 'namespace', source: 'Phone', labels: ['C5'] }] };
    expect((await call('PUT', '/api/v1/field-labels', phoneLabels)).status).toBe(200);
    const actions = violations(
      await call('PATCH', `/api/v1/destinations/${analytics}`, {
        marketingActions: ['Analytics', 'Export to Third Party', 'Cross Site Targeting'],
      }),
    );
    expect(actions).toEqual([
      {
        path: 'marketingActions',
        reason: expect.stringMatching(
          /"Private" is labelled C2 .*dataflow "Private phones" to destination "Analytics only"/,
        ),
      },
      {
        path: 'marketingActions',
        reason: expect.stringMatching(
          /exports Phone, labelled C5 .*dataflow "Private phones" to destination "Analytics only", mapping row 1/,
        ),
      },
    ]);
    expect((await call('GET', `/api/v1/destinations/${analytics}`)).body.marketingActions).toEqual([
      'Analytics',
    ]);

    // A dataflow activating a forbidden segment and mapping a forbidden field: both, on create and on update.
    const created = violations(
      await call('POST', '/api/v1/dataflows', {
        name: 'Private to third parties',
        destinationId: thirdParty,
        mapping: [phoneRow],
        audiences: [{ segmentId: 'seg-private', mappingName: 'Private third' }],
      }),
    );
    expect(created.map((v) => v.path)).toEqual(['audiences[0].segmentId', 'mapping[0].source']);
    expect(created[0]!.reason).toContain(
      'dataflow "Private to third parties" to destination "Third-party targeting"',
    );
    expect(created[1]!.reason).toContain(
      'dataflow "Private to third parties" to destination "Third-party targeting"',
    );
    const updated = violations(
      await call('PATCH', `/api/v1/dataflows/${shared}`, {
        mapping: [emailRow, phoneRow],
        audiences: [
          { segmentId: 'seg-shared', mappingName: 'Shared third' },
          { segmentId: 'seg-private', mappingName: 'Private third' },
        ],
      }),
    );
    expect(updated.map((v) => v.path)).toEqual(['audiences[1].segmentId', 'mapping[1].source']);
    expect(updated[1]!.reason).toContain(
      'dataflow "Shared to third parties" to destination "Third-party targeting"',
    );
    const after = (await call('GET', `/api/v1/dataflows/${shared}`)).body;
    expect(after.mapping).toHaveLength(1);
    expect(after.audiences).toHaveLength(1);
    expect((await call('PUT', '/api/v1/field-labels', { fields: [] })).status).toBe(200);
  });

  it('refuses a marketing action that only looks like a core one, and stores core ones in their spelling', async () => {
    // seg-private (C2) is activated to "Analytics only": a near miss of "Export to Third Party" would get past
    // the core policy as a custom action.
    const analytics = (await call('GET', '/api/v1/destinations')).body.items.find(
      (d: Json) => d.name === 'Analytics only',
    ).id as string;
    // Other separators spell the core action itself: held to its policy (seg-private's C2 forbids it).
    const spelt = await call('PATCH', `/api/v1/destinations/${analytics}`, {
      marketingActions: ['Onsite Advertising', 'Export to third-party'],
    });
    expect(spelt.status, JSON.stringify(spelt.body)).toBe(409);
    expect(spelt.body.error.code).toBe('policy_violation');
    const typos = await call('PATCH', `/api/v1/destinations/${analytics}`, {
      marketingActions: ['Anaytics', 'Exprot to Third Party', 'cross-site targetting', 'Offsite Advertising'],
    });
    expect(typos.status).toBe(400);
    expect(typos.body.error.details).toEqual([
      { path: 'marketingActions[0]', reason: expect.stringContaining('did you mean "Analytics"?') },
      {
        path: 'marketingActions[1]',
        reason: expect.stringContaining('did you mean "Export to Third Party"?'),
      },
      {
        path: 'marketingActions[2]',
        reason: expect.stringContaining('did you mean "Cross Site Targeting"?'),
      },
    ]);
    expect((await call('GET', `/api/v1/destinations/${analytics}`)).body.marketingActions).toEqual([
      'Analytics',
    ]);

    // The core action in another case is the core action: checked as one, stored in its spelling.
    violations(
      await call('PATCH', `/api/v1/destinations/${analytics}`, {
        marketingActions: ['export to third party'],
      }),
    );
    const cased = await call('PATCH', `/api/v1/destinations/${analytics}`, {
      marketingActions: [' ANALYTICS ', 'onsite advertising', 'Analytics', 'Loyalty Rewards'],
    });
    expect(cased.status, JSON.stringify(cased.body)).toBe(200);
    expect(cased.body.marketingActions).toEqual(['Analytics', 'Onsite Advertising', 'Loyalty Rewards']);

    const created = await call('POST', '/api/v1/destinations', {
      name: 'Slipped',
      accountId: DEMO.accountId,
      credentials: DEMO.credentials,
      marketingActions: ['Single Identity Personalisation'],
      alertWebhookUrl: null,
    });
    expect(created.status).toBe(400);
    expect(created.body.error.details).toEqual([
      {
        path: 'marketingActions[0]',
        reason: expect.stringContaining('did you mean "Single Identity Personalization"?'),
      },
    ]);
    expect(
      (await call('GET', '/api/v1/destinations')).body.items.some((d: Json) => d.name === 'Slipped'),
    ).toBe(false);

    // Policies name marketing actions too: the sandbox's own and consent policies.
    const own = await call('PUT', '/api/v1/data-usage-policies', {
      policies: [{ name: 'No onsite ads on scores', action: 'Onsite Advertisng', labels: ['my-score'] }],
    });
    expect(own.status).toBe(400);
    expect(own.body.error.details).toEqual([
      { path: 'policies[0].action', reason: expect.stringContaining('did you mean "Onsite Advertising"?') },
    ]);
    const consent = await call('PUT', '/api/v1/consent-policies', {
      policies: [
        {
          name: 'Emails need consent',
          marketingActions: ['Loyalty Rewards', 'Email targetting'],
          attribute: 'consents.marketing.email.val',
        },
      ],
    });
    expect(consent.status).toBe(400);
    expect(consent.body.error.details).toEqual([
      {
        path: 'policies[0].marketingActions[1]',
        reason: expect.stringContaining('did you mean "Email Targeting"?'),
      },
    ]);
  });
});
