import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deploymentSettings, eventRules, idpSettings, PROVIDERS } from '../../../functions/lib/idp/providers';

/**
 * The registry of identity providers (functions/lib/idp/providers): each provider's event rules bring exactly the
 * events its parser reads, no event is two providers', and the configuration schema has every provider's fields.
 */
const FIXTURES = join(__dirname, '../../fixtures/idp');
const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => [f, JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as Record<string, unknown>] as const);
const HOME = { partition: 'aws' as const, region: 'eu-west-1', accountId: '123456789012' };
const DEPLOYMENT = { oktaEventBusName: 'aws.partner/okta.com/example/db-access-events' };

/** EventBridge's matching for the patterns the rules use: a list of values or prefixes per field, objects nested. */
const matches = (pattern: unknown, event: unknown): boolean => {
  if (Array.isArray(pattern))
    return pattern.some((p) =>
      typeof p === 'object' && p !== null && 'prefix' in p ? typeof event === 'string' && event.startsWith(String(p.prefix)) : p === event,
    );
  if (typeof pattern !== 'object' || pattern === null || typeof event !== 'object' || event === null) return false;
  return Object.entries(pattern).every(([k, p]) => matches(p, (event as Record<string, unknown>)[k]));
};

describe('identity providers', () => {
  it('every fixture is accepted by exactly one provider, and one of its rules matches it', () => {
    expect(fixtures.length).toBeGreaterThan(10);
    for (const [file, event] of fixtures) {
      const accepting = PROVIDERS.filter((p) => p.accepts(event));
      expect(accepting, file).toHaveLength(1);
      const rules = accepting[0].eventRules(DEPLOYMENT, HOME);
      expect(
        rules.some((r) => matches(r.pattern, event)),
        `${file}: no rule of its provider brings it`,
      ).toBe(true);
    }
  });

  it('no rule brings an event of another provider', () => {
    for (const [file, event] of fixtures) {
      const owners = PROVIDERS.filter((p) => p.eventRules(DEPLOYMENT, HOME).some((r) => matches(r.pattern, event)));
      expect(owners, file).toEqual(PROVIDERS.filter((p) => p.accepts(event)));
    }
    expect(eventRules(DEPLOYMENT, HOME).length).toBe(PROVIDERS.flatMap((p) => p.eventRules(DEPLOYMENT, HOME)).length);
  });

  it('no change source belongs to two providers', () => {
    const sources = PROVIDERS.flatMap((p) => p.sources);
    expect(new Set(sources).size).toBe(sources.length);
  });

  it("the configuration schema has every provider's fields, and only theirs", () => {
    const keys = (o: object) => Object.keys(o).sort();
    expect(keys(idpSettings())).toEqual(keys(Object.assign({}, ...PROVIDERS.map((p) => p.settings()))));
    expect(keys(deploymentSettings())).toEqual(keys(Object.assign({}, ...PROVIDERS.map((p) => p.deployment()))));
    expect(keys(idpSettings())).toEqual(['identityStoreId', 'identityStoreRegion', 'okta']);
  });
});
