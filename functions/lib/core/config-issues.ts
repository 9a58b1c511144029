import * as z from 'zod';
import { closestMatch } from './suggest';

/**
 * Turns zod's findings about a configuration into lines an operator can act on: `PATH: what is wrong, what is
 * allowed`. zod's own texts ("Invalid input: expected number, received string") name neither the value nor the
 * choices; an unknown key gets the known key it most likely meant.
 */

/** A value as a message shows it: strings quoted and cut short, containers by their kind. */
export const describeValue = (v: unknown): string => {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return String(v);
};

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  record: 'an object',
  array: 'a list',
};

const quoteAll = (values: readonly unknown[]): string => values.map((v) => JSON.stringify(v)).join(', ');

/** A value outside a fixed set: which ones are allowed, and the one it was probably meant to be. */
const notOneOf = (input: unknown, values: readonly unknown[]): string => {
  if (input === undefined) return `is required: one of ${quoteAll(values)}`;
  const strings = values.filter((v): v is string => typeof v === 'string');
  const guess = typeof input === 'string' ? closestMatch(input, strings) : undefined;
  const allowed = values.length === 1 ? `must be ${quoteAll(values)}` : `must be one of ${quoteAll(values)}`;
  return `${allowed}, not ${describeValue(input)}${guess ? `; did you mean "${guess}"?` : ''}`;
};

/** One unknown key: the known key it is closest to, or all of them. */
const unknownKey = (key: string, known: readonly string[]): string => {
  const guess = closestMatch(key, known);
  return guess ? `unknown key, did you mean "${guess}"?` : `unknown key (allowed: ${known.join(', ') || 'none'})`;
};

const size = (origin: string, bound: number | bigint, unit: 'at least' | 'at most' | 'more than' | 'less than', input: unknown): string => {
  if (origin === 'array' || origin === 'set') return `must list ${unit} ${bound} item${bound === 1 ? '' : 's'}`;
  if (origin === 'string') return `must be ${unit} ${bound} character${bound === 1 ? '' : 's'} long, not ${describeValue(input)}`;
  return `must be ${unit} ${bound}, not ${describeValue(input)}`;
};

/**
 * The error map handed to zod (`safeParse(raw, { error: configErrorMap })`). Schemas that carry their own message
 * (a regex's "must be an AWS Region code") keep it; the value is added when the issue is formatted.
 */
export const configErrorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return `is required (${EXPECTED[iss.expected] ?? iss.expected})`;
      return `must be ${EXPECTED[iss.expected] ?? iss.expected}, not ${describeValue(iss.input)}`;
    case 'unrecognized_keys': {
      // zod reports every unknown key of one object in one issue; one line per key, in the order of iss.keys,
      // which formatIssues splits again so that each key is reported at its own path.
      const known = iss.inst instanceof z.ZodObject ? Object.keys(iss.inst.shape) : [];
      return iss.keys.map((k) => unknownKey(k, known)).join('\n');
    }
    case 'invalid_value':
      return notOneOf(iss.input, iss.values);
    case 'invalid_union': {
      // A discriminated union (admin.method, idp.principal.kind) whose tag matches no option.
      const disc = 'discriminator' in iss && typeof iss.discriminator === 'string' ? iss.discriminator : undefined;
      const options = 'options' in iss && Array.isArray(iss.options) ? (iss.options as unknown[]) : undefined;
      if (disc && options) {
        const input = iss.input;
        const value = typeof input === 'object' && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>)[disc] : undefined;
        return notOneOf(value, options);
      }
      return undefined;
    }
    case 'invalid_key': {
      const why = iss.issues.map((i) => i.message).join('; ');
      return `is not an allowed name${why ? `: ${why}` : ''}`;
    }
    case 'too_small':
      return size(iss.origin, iss.minimum, iss.inclusive === false ? 'more than' : 'at least', iss.input);
    case 'too_big':
      return size(iss.origin, iss.maximum, iss.inclusive === false ? 'less than' : 'at most', iss.input);
    default:
      return undefined;
  }
};

export const pathOf = (path: readonly PropertyKey[]): string => (path.length ? path.map(String).join('.') : '(root)');

/** Lines `PATH: message`, one per problem; a check's own message gets the value it refused. */
export const formatIssues = (issues: readonly z.core.$ZodIssue[]): string[] =>
  issues.flatMap((i) => {
    if (i.code === 'unrecognized_keys') {
      const lines = i.message.split('\n');
      return i.keys.map((k, n) => `${pathOf([...i.path, k])}: ${lines[n] ?? 'unknown key'}`);
    }
    const input = (i as { input?: unknown }).input;
    const value =
      (i.code === 'invalid_format' || i.code === 'custom') && (typeof input === 'string' || typeof input === 'number') ? ` (got ${describeValue(input)})` : '';
    return [`${pathOf(i.path)}: ${i.message}${value}`];
  });
