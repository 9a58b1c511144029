import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { invalid, ProvisioningError } from '../core/errors';

/** An API Gateway HTTP API request (payload format 2.0) on a route with IAM authorization. */
export type HttpEvent = APIGatewayProxyEventV2WithIAMAuthorizer;
export type HttpResult = APIGatewayProxyStructuredResultV2 & { statusCode: number; body: string };

export const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/** The error format of the API (README "HTTP API"): `{error: CODE, message}`, with details when there are some. */
export const errorResult = (e: ProvisioningError): HttpResult => json(e.httpStatus, e.toJSON());

/** The JSON object in the request body; anything else is a 400 that says what was wrong. */
export const jsonBody = (event: Pick<HttpEvent, 'body' | 'isBase64Encoded'>): Record<string, unknown> => {
  if (event.body === undefined || event.body === '') throw invalid('(body)', 'is required: a JSON object');
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw invalid('(body)', `is not valid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('(body)', 'must be a JSON object');
  return value as Record<string, unknown>;
};

/**
 * `?dryRun=true` plans, `?dryRun=false` or nothing runs. Other values and other parameters are
 * refused rather than guessed: a mistyped `?dryrun=true` must not start the real thing.
 */
export const dryRunOf = (event: Pick<HttpEvent, 'queryStringParameters'>): boolean => {
  const v = queryOf(event, ['dryRun']).dryRun;
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw invalid('dryRun', 'must be true or false');
};

/** The query parameters of a route; any other is refused (a typo must not silently change the answer). */
export const queryOf = <K extends string>(event: Pick<HttpEvent, 'queryStringParameters'>, allowed: readonly K[]): Partial<Record<K, string>> => {
  const q = event.queryStringParameters ?? {};
  const unknown = Object.keys(q).filter((k) => !(allowed as readonly string[]).includes(k));
  if (unknown.length) throw invalid(unknown.join(', '), `is not a known query parameter (known: ${allowed.join(', ')})`);
  return q as Partial<Record<K, string>>;
};

export const routeNotFound = (event: Pick<HttpEvent, 'routeKey' | 'rawPath' | 'requestContext'>): ProvisioningError =>
  new ProvisioningError('RouteNotFound', `no route ${event.requestContext?.http?.method ?? ''} ${event.rawPath}`.replace('  ', ' '));
