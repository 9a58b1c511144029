/** Okta's Users API as the directory (fetch stubbed at the HTTP boundary: Okta is not reachable here). */
import { describe, expect, it, vi } from 'vitest';
import { oktaDirectory } from '../functions/lib/idp/directory';

const json = (body: unknown, init: { status?: number; link?: string } = {}) =>
  new Response(JSON.stringify(body), { status: init.status ?? 200, headers: { 'content-type': 'application/json', ...(init.link ? { link: init.link } : {}) } });

describe('Okta directory', () => {
  it('reads status, login and every group (following Link rel="next"), with the SSWS token', async () => {
    const fetchImpl = vi.fn(async (url: string | URL | Request, _init?: RequestInit) => {
      const u = String(url);
      if (u.endsWith('/api/v1/users/00u1')) return json({ id: '00u1', status: 'ACTIVE', profile: { login: 'alice@example.com' } });
      if (u.endsWith('/api/v1/users/00u1/groups')) return json([{ id: '00g1', profile: { name: 'db-orders-readers' } }], { link: '<https://example.okta.com/api/v1/users/00u1/groups?after=00g1>; rel="next", <https://example.okta.com/api/v1/users/00u1/groups>; rel="self"' });
      if (u.endsWith('groups?after=00g1')) return json([{ id: '00g2', profile: { name: 'db-writers' } }]);
      return json({}, { status: 500 });
    });
    const person = await oktaDirectory('https://example.okta.com', async () => 'tok', fetchImpl as typeof fetch).person({ id: '00u1' });
    expect(person).toEqual({ userId: '00u1', userName: 'alice@example.com', active: true, groups: [{ id: '00g1', name: 'db-orders-readers' }, { id: '00g2', name: 'db-writers' }] });
    expect(fetchImpl.mock.calls.map(([, init]) => JSON.stringify(init?.headers))).toEqual(Array(3).fill(JSON.stringify({ Authorization: 'SSWS tok', Accept: 'application/json' })));
  });

  it('deprovisioned or suspended people are inactive; unknown ones undefined; Okta errors are retryable refusals', async () => {
    const status = (s: string) => vi.fn(async (url: string | URL | Request) => (String(url).endsWith('/groups') ? json([]) : json({ status: s, profile: { login: 'a@example.com' } })));
    for (const s of ['DEPROVISIONED', 'SUSPENDED']) expect((await oktaDirectory('https://example.okta.com', async () => 't', status(s) as typeof fetch).person({ id: 'x' }))?.active).toBe(false);
    expect(await oktaDirectory('https://example.okta.com', async () => 't', (async () => json({}, { status: 404 })) as typeof fetch).person({ id: 'x' })).toBeUndefined();
    await expect(oktaDirectory('https://example.okta.com', async () => 't', (async () => json({}, { status: 429 })) as typeof fetch).person({ id: 'x' })).rejects.toMatchObject({ name: 'IdentityProviderUnavailable' });
  });
});
