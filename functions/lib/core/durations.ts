/**
 * ISO 8601 durations, strictly: `PnW`, or `PnD` and/or `T` with `nH`, `nM`, `nS`, whole numbers, in that order.
 * Years and months are refused: their length depends on the calendar, and a deadline computed from them would
 * differ between two readers. `P1DT` (a T with nothing after it) and `P` are refused as ISO 8601 refuses them.
 */
const DURATION = /^P(?:(\d+)W|(?=\d|T\d)(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?)$/;

const SECOND = 1000;
const UNITS_MS = [7 * 86_400 * SECOND, 86_400 * SECOND, 3600 * SECOND, 60 * SECOND, SECOND];

/** What a duration field allows, for messages. */
export const DURATION_FORMAT = 'an ISO 8601 duration of weeks, days, hours, minutes or seconds (e.g. PT1H, PT30M, P1D, P1DT12H, P2W)';

/** The duration in milliseconds, or what is wrong with it (the value itself is for the caller to quote). */
export const parseDuration = (text: unknown): { ms: number } | { problem: string } => {
  if (typeof text !== 'string') return { problem: `must be ${DURATION_FORMAT}` };
  const m = DURATION.exec(text);
  if (!m) {
    const calendar = /^P(\d+[YM])/.test(text) || /^P[^T]*\d+M/.test(text);
    return {
      problem: calendar ? `uses years or months, whose length depends on the calendar: must be ${DURATION_FORMAT}` : `must be ${DURATION_FORMAT}`,
    };
  }
  const ms = m.slice(1).reduce((sum, n, i) => sum + (n === undefined ? 0 : Number(n) * UNITS_MS[i]), 0);
  if (ms === 0) return { problem: 'must be longer than zero' };
  if (ms > MAX_MS) return { problem: `must be at most ${formatDuration(MAX_MS)}` };
  return { ms };
};

/** A year and a day: no grant, wait or deadline of this project is meant to be longer. */
const MAX_MS = 366 * 86_400 * SECOND;

/** The milliseconds of a duration already validated (configuration); a bad one here is a bug, not input. */
export const durationMs = (text: string): number => {
  const d = parseDuration(text);
  if ('problem' in d) throw new Error(`duration "${text}" ${d.problem}`);
  return d.ms;
};

/** A duration in the shortest exact form (ms whole seconds), for answers and messages. */
export const formatDuration = (ms: number): string => {
  let s = Math.round(ms / SECOND);
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const min = Math.floor(s / 60);
  s -= min * 60;
  const time = `${h ? `${h}H` : ''}${min ? `${min}M` : ''}${s ? `${s}S` : ''}`;
  const text = `P${d ? `${d}D` : ''}${time ? `T${time}` : ''}`;
  return text === 'P' ? 'PT0S' : text;
};
