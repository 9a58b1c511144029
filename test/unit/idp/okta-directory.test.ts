/** Okta's Users API as the directory (fetch stubbed at the HTTP boundary: Okta is not reachable here). */
import { describe, expect, it, vi } from 'vitest';
import { oktaDirectory } from '../../../functions/lib/idp/providers/okta';

const json = (body: unknown, init: { status?: number; link?: string } = {}) =>
  new Response(JSON.stringify(body), {
    status: init.status ?? 200,
    headers: { 'content-type': 'application/json', ...(init.link ? { link: init.link } : {}) },
  });

describe('Okta directory', () => {
  it('reads status, login and every group (following Link rel="next"), with the SSWS token', async () => {
    const fetchImpl = vi.fn(async (url: string | URL | Request, _init?: RequestInit) => {
      const u = String(url);
      if (u.endsWith('/api/v1/users/00u1')) return json({ id: '00u1', status: 'ACTIVE', profile: { login: 'alice@example.com' } });
      if (u.endsWith('/api/v1/users/00u1/groups'))
        return json([{ id: '00g1', profile: { name: 'db-orders-readers' } }], {
          link: '<https://example.okta.com/api/v1/users/00u1/groups?after=00g1>; rel="next", <https://example.okta.com/api/v1/users/00u1/groups>; rel="self"',
        });
      if (u.endsWith('groups?after=00g1')) return json([{ id: '00g2', profile: { name: 'db-writers' } }]);
      return json({}, { status: 500 });
    });
    const person = await oktaDirectory('https://example.okta.com', async () => 'tok', fetchImpl as typeof fetch).person({ id: '00u1' });
    expect(person).toEqual({
      userId: '00u1',
      userName: 'alice@example.com',
      active: true,
      groups: [
        { id: '00g1', name: 'db-orders-readers' },
        { id: '00g2', name: 'db-writers' },
      ],
    });
    expect(fetchImpl.mock.calls.map(([, init]) => JSON.stringify(init?.headers))).toEqual(
      Array(3).fill(JSON.stringify({ Authorization: 'SSWS tok', Accept: 'application/json' })),
    );
  });

  it('deprovisioned or suspended people are inactive; unknown ones undefined; Okta errors are retryable refusals', async () => {
    const status = (s: string) =>
      vi.fn(async (url: string | URL | Request) => (String(url).endsWith('/groups') ? json([]) : json({ status: s, profile: { login: 'a@example.com' } })));
    for (const s of ['DEPROVISIONED', 'SUSPENDED'])
      expect((await oktaDirectory('https://example.okta.com', async () => 't', status(s) as typeof fetch).person({ id: 'x' }))?.active).toBe(false);
    expect(
      await oktaDirectory('https://example.okta.com', async () => 't', (async () => json({}, { status: 404 })) as typeof fetch).person({ id: 'x' }),
    ).toBeUndefined();
    await expect(
      oktaDirectory('https://example.okta.com', async () => 't', (async () => json({}, { status: 429 })) as typeof fetch).person({ id: 'x' }),
    ).rejects.toMatchObject({ name: 'IdentityProviderUnavailable' });
  });

  it.each([
    ['another host', '<https://attacker.example/api/v1/users/00u1/groups?after=00g1>; rel="next"'],
    ['a look-alike host', '<https://example.okta.com.attacker.example/api/v1/users/00u1/groups?after=00g1>; rel="next"'],
    ['plain http', '<http://example.okta.com/api/v1/users/00u1/groups?after=00g1>; rel="next"'],
    ['another port', '<https://example.okta.com:8443/api/v1/users/00u1/groups?after=00g1>; rel="next"'],
    ['user info', '<https://attacker@example.okta.com/api/v1/users/00u1/groups?after=00g1>; rel="next"'],
    ['a scheme-relative URL', '<//attacker.example/api/v1/users/00u1/groups?after=00g1>; rel="next"'],
  ])('a Link rel="next" to %s is not followed: the token goes to the org only, and the lookup fails typed', async (_, link) => {
    const fetchImpl = vi.fn(async (url: string | URL | Request, _init?: RequestInit) => {
      const u = String(url);
      if (u.endsWith('/api/v1/users/00u1')) return json({ id: '00u1', status: 'ACTIVE', profile: { login: 'alice@example.com' } });
      if (u.endsWith('/api/v1/users/00u1/groups')) return json([{ id: '00g1' }], { link });
      return json([{ id: '00g-attacker' }]);
    });
    await expect(oktaDirectory('https://example.okta.com', async () => 'tok', fetchImpl as typeof fetch).person({ id: '00u1' })).rejects.toMatchObject({
      name: 'IdentityProviderUnavailable',
      message: expect.stringContaining('not the configured org https://example.okta.com'),
    });
    expect(fetchImpl.mock.calls.map(([url]) => new URL(String(url)).origin)).toEqual(['https://example.okta.com', 'https://example.okta.com']);
    // Nor may Okta's answers redirect the token elsewhere.
    expect(fetchImpl.mock.calls.every(([, init]) => init?.redirect === 'error')).toBe(true);
  });

  it('a relative next link is resolved against the org and followed', async () => {
    const fetchImpl = vi.fn(async (url: string | URL | Request) => {
      const u = String(url);
      if (u.endsWith('/api/v1/users/00u1')) return json({ id: '00u1', status: 'ACTIVE', profile: { login: 'alice@example.com' } });
      if (u.endsWith('/api/v1/users/00u1/groups')) return json([{ id: '00g1' }], { link: '</api/v1/users/00u1/groups?after=00g1>; rel="next"' });
      if (u === 'https://example.okta.com/api/v1/users/00u1/groups?after=00g1') return json([{ id: '00g2' }]);
      return json({}, { status: 500 });
    });
    expect((await oktaDirectory('https://example.okta.com', async () => 'tok', fetchImpl as typeof fetch).person({ id: '00u1' }))?.groups).toEqual([
      { id: '00g1' },
      { id: '00g2' },
    ]);
  });
});
