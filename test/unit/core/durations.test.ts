import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../functions/lib/core/durations';

describe('ISO 8601 durations, strictly', () => {
  it.each([
    ['PT1H', 3_600_000],
    ['PT30M', 1_800_000],
    ['PT45S', 45_000],
    ['P1D', 86_400_000],
    ['P1DT12H', 129_600_000],
    ['PT1H30M', 5_400_000],
    ['P2W', 1_209_600_000],
  ])('%s is %i ms', (text, ms) => {
    expect(parseDuration(text)).toEqual({ ms });
  });

  it.each([
    ['1h', 'must be an ISO 8601 duration'],
    ['PT', 'must be an ISO 8601 duration'],
    ['P', 'must be an ISO 8601 duration'],
    ['P1DT', 'must be an ISO 8601 duration'],
    ['PT1.5H', 'must be an ISO 8601 duration'],
    ['PT1M1H', 'must be an ISO 8601 duration'],
    ['P1W1D', 'must be an ISO 8601 duration'],
    ['pt1h', 'must be an ISO 8601 duration'],
    ['P1M', 'years or months'],
    ['P1Y', 'years or months'],
    ['PT0S', 'longer than zero'],
    ['P400D', 'at most P366D'],
  ])('refuses %s', (text, problem) => {
    const d = parseDuration(text);
    expect('problem' in d && d.problem).toContain(problem);
  });

  it('refuses what is not a string', () => {
    expect(parseDuration(3600)).toHaveProperty('problem');
  });

  it('formats in the shortest exact form, which parses back to the same length', () => {
    for (const text of ['PT1H', 'PT90M', 'P1DT12H', 'P2W', 'PT45S']) {
      const d = parseDuration(text);
      if (!('ms' in d)) throw new Error(text);
      expect(parseDuration(formatDuration(d.ms))).toEqual(d);
    }
    expect(formatDuration(5_400_000)).toBe('PT1H30M');
    expect(formatDuration(1_209_600_000)).toBe('P14D');
  });
});
