import type { IdentitystoreClient } from '@aws-sdk/client-identitystore';
import type * as z from 'zod';
import type { Partition } from '../../core/arn';
import { ProvisioningError } from '../../core/errors';
import type { IdentityDirectory } from '../directory';
import type { IdentityChange, ParsedEvent } from '../events';

/**
 * What an identity provider is to this project: the EventBridge events it sends and how to read them, the directory
 * that says what is true now, its part of the configuration, the rules that bring its events and what reading its
 * directory needs. One module per provider (providers/*.ts), listed in providers/index.ts; the idpEvents handler,
 * the configuration schema and the stack (config/stack.js) read the list.
 */
export interface IdentityProvider<
  Config extends object = object,
  Settings extends z.ZodRawShape = z.ZodRawShape,
  Deployment extends z.ZodRawShape = z.ZodRawShape,
> {
  /** The `source` of the changes it parses (IdentityChange.source). */
  sources: readonly IdentityChange['source'][];
  /** Whether an EventBridge event (its envelope) is one of this provider's. */
  accepts: (envelope: Json) => boolean;
  /** Reads one of its events: the change, or why it is ignored; throws ValidationError when malformed. */
  parse: (envelope: Json, detail: Json) => ParsedEvent;
  /** Its fields of the idp section (built on first use, as the rest of the schema). */
  settings: () => Settings;
  /** Its fields of the deployment section (read at package time only). */
  deployment: () => Deployment;
  /** Its directory as configured; undefined when there is none (then the event is all there is). */
  directory: (idp: Config, deps: DirectoryDeps) => IdentityDirectory | undefined;
  /** The EventBridge rules that bring its events (config/stack.js names them and adds retries and the dead-letter queue). */
  eventRules: (deployment: { [K in keyof Deployment]?: z.infer<Deployment[K]> }, home: Home) => EventRule[];
  /** What the idpEvents role needs to read its directory, as configured. */
  statements: (idp: Config | undefined, home: Home) => IamStatement[];
}

export type Json = Record<string, unknown>;

/** How a directory reaches its provider (functions/idp-events.ts binds them to the SDK clients). */
export interface DirectoryDeps {
  identitystore: (region: string) => IdentitystoreClient;
  /** The string of a Secrets Manager secret. */
  secretString: (secretArn: string) => Promise<string>;
  /** The function's own Region. */
  region: string | undefined;
}

/** Where the stack is deployed: the Region and account of its first target (config/stack.js). */
export interface Home {
  partition: Partition;
  region: string;
  accountId: string;
}

export interface EventRule {
  /** The rule's name after the stack's `rds-iam-access-STAGE-idp-`. */
  name: string;
  pattern: Json;
  /** An event bus other than the default one (its ARN: the stack references it, never creates it). */
  eventBus?: string;
}

export interface IamStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
}

export const malformed = (reason: string): ProvisioningError =>
  new ProvisioningError('ValidationError', `malformed identity event: ${reason}`, { details: { reason } });

export const obj = (v: unknown): Json | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
export const text = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || v.length === 0) throw malformed(`${what} is missing`);
  return v;
};

export const ignored = (reason: string): ParsedEvent => ({ kind: 'ignored', reason });
export const change = (c: IdentityChange): ParsedEvent => ({ kind: 'change', change: c });

export const CLOUDTRAIL = 'AWS API Call via CloudTrail';
export const isCloudTrail = (envelope: Json, source: string): boolean => envelope['detail-type'] === CLOUDTRAIL && envelope.source === source;

/** A CloudTrail record via EventBridge ("AWS API Call via CloudTrail"; the record is `detail`): a failed call changed nothing. */
export const cloudTrailRecord = (d: Json): { name: string; eventId: string; parameters: Json } | { ignored: ParsedEvent } => {
  const name = text(d.eventName, 'detail.eventName');
  if (d.errorCode !== undefined) return { ignored: ignored(`${name} failed (${String(d.errorCode)}): nothing changed`) };
  return { name, eventId: text(d.eventID, 'detail.eventID'), parameters: obj(d.requestParameters) ?? {} };
};

/** CloudTrail's event pattern for some of a service's calls. */
export const cloudTrailPattern = (source: string[], eventName: string[]): Json => ({ source, 'detail-type': [CLOUDTRAIL], detail: { eventName } });
