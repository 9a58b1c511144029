import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { HttpEvent, HttpResult } from '../functions/lib/api/http';
import { ACCESS_REQUEST_ROUTES, ROUTES } from '../functions/lib/api/routes';

/**
 * Local stand-in for API Gateway (HTTP API, payload format 2.0, IAM authorization): turns a
 * request into the event API Gateway would send the `api` function, and its result back into a
 * response. SigV4 cannot be checked locally; the caller's identity comes from a header instead.
 */
export const CALLER_HEADER = 'x-caller-arn';

// Local mode serves the access-request routes already; the deployed API gains them with their table (routes.ts).
const ROUTE_PATTERNS = [...ROUTES, ...ACCESS_REQUEST_ROUTES].map((key) => {
  const [method, path] = key.split(' ');
  const names: string[] = [];
  const regex = new RegExp(
    `^${path.replace(/\{(\w+)\}/g, (_, n: string) => {
      names.push(n);
      return '([^/]+)';
    })}$`,
  );
  return { key, method, regex, names };
});

/** API Gateway decodes path parameters; a malformed escape is kept as sent (validation then refuses it). */
const decodePathPart = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

const matchRoute = (method: string, path: string): { routeKey: string; pathParameters?: Record<string, string> } => {
  for (const r of ROUTE_PATTERNS) {
    const m = r.method === method ? r.regex.exec(path) : null;
    if (m) return { routeKey: r.key, ...(r.names.length ? { pathParameters: Object.fromEntries(r.names.map((n, i) => [n, decodePathPart(m[i + 1])])) } : {}) };
  }
  return { routeKey: '$default' };
};

export const toHttpEvent = (
  req: { method: string; url: string; headers: Record<string, string>; body: string; sourceIp?: string },
  callerArn: string,
): HttpEvent => {
  const url = new URL(req.url, 'http://localhost');
  const query: Record<string, string> = {};
  // API Gateway joins repeated parameters with commas.
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const { routeKey, pathParameters } = matchRoute(req.method, url.pathname);
  const accountId = /^arn:[^:]+:(?:iam|sts)::(\d{12}):/.exec(callerArn)?.[1] ?? '';
  const now = new Date();
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers: req.headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(pathParameters ? { pathParameters } : {}),
    ...(req.body ? { body: req.body } : {}),
    isBase64Encoded: false,
    requestContext: {
      accountId,
      apiId: 'local',
      authorizer: { iam: { accessKey: 'LOCAL', accountId, callerId: 'LOCAL', cognitoIdentity: null, principalOrgId: '', userArn: callerArn, userId: 'LOCAL' } },
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method: req.method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: req.sourceIp ?? '127.0.0.1', userAgent: req.headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
  };
};

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

/** Routes only local mode has (`POST /local/events`): no caller identity, a JSON body in, a result out. */
export type LocalRoutes = Record<string, (body: string) => Promise<HttpResult>>;

export const createHttpApiServer = (handle: (event: HttpEvent) => Promise<HttpResult>, local: LocalRoutes = {}): Server =>
  createServer(async (req, res) => {
    const send = (r: HttpResult): void => {
      res.writeHead(r.statusCode, Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, String(v)])));
      res.end(r.body);
    };
    try {
      const body = await readBody(req);
      const localRoute = local[`${req.method} ${new URL(req.url ?? '/', 'http://localhost').pathname}`];
      if (localRoute) {
        send(await localRoute(body));
        return;
      }
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
      const caller = headers[CALLER_HEADER];
      if (!caller) {
        // Where API Gateway would refuse an unsigned request, local mode says what to send instead.
        send({
          statusCode: 403,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            error: 'NotAuthorized',
            message: `local mode: send the caller's IAM ARN in the ${CALLER_HEADER} header (it stands in for SigV4)`,
          }),
        });
        return;
      }
      send(await handle(toHttpEvent({ method: req.method ?? 'GET', url: req.url ?? '/', headers, body, sourceIp: req.socket.remoteAddress }, caller)));
    } catch (e) {
      send({
        statusCode: 500,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: 'InternalError', message: (e as Error).message }),
      });
    }
  });
