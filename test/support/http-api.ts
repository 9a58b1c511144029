/** API Gateway HTTP API events (payload format 2.0, IAM authorizer) as the api function receives them, and its answers. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HttpEvent, HttpResult } from '../../functions/lib/api/http';

const FIXTURE = JSON.parse(readFileSync(join(__dirname, '../fixtures/http-api-iam-event.json'), 'utf8')) as HttpEvent;
export const ADMIN = 'arn:aws:sts::123456789012:assumed-role/platform-admin/jane';

export interface EventSpec {
  routeKey: string;
  body?: unknown;
  caller?: string | null;
  query?: Record<string, string>;
  pathParameters?: Record<string, string>;
}

/** The documented event, with this request's route, body, query and caller. */
export const httpEvent = ({ routeKey, body, caller = ADMIN, query, pathParameters }: EventSpec): HttpEvent => {
  const e = structuredClone(FIXTURE);
  const [method, path] = routeKey.split(' ');
  const rawPath = pathParameters ? path.replace(/\{(\w+)\}/g, (_, n: string) => pathParameters[n]) : path;
  e.routeKey = routeKey;
  e.requestContext.routeKey = routeKey;
  e.rawPath = rawPath;
  e.requestContext.http = { ...e.requestContext.http, method, path: rawPath };
  if (body === undefined) delete e.body;
  else e.body = typeof body === 'string' ? body : JSON.stringify(body);
  if (query) {
    e.queryStringParameters = query;
    e.rawQueryString = new URLSearchParams(query).toString();
  }
  if (pathParameters) e.pathParameters = pathParameters;
  if (caller === null) (e.requestContext as { authorizer?: unknown }).authorizer = undefined;
  else e.requestContext.authorizer.iam.userArn = caller;
  return e;
};

export interface ApiAnswer {
  status: number;
  headers: Record<string, unknown>;
  body: Record<string, unknown>;
}
export const parse = (r: HttpResult): ApiAnswer => ({ status: r.statusCode, headers: r.headers ?? {}, body: JSON.parse(r.body) as Record<string, unknown> });
