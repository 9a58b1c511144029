/** How a bench prints a figure against its target. */
export const check = (ok: boolean): string => (ok ? 'ok' : 'OVER TARGET');
