import type * as z from 'zod';
import type { IdentityDirectory } from '../directory';
import type { IdentityChange, ParsedEvent } from '../events';
import * as iam from './iam';
import * as identityCenter from './identity-center';
import * as okta from './okta';
import { CLOUDTRAIL, cloudTrailRecord, type DirectoryDeps, type EventRule, type Home, type IamStatement, malformed, obj, text } from './provider';

/**
 * The identity providers, one module each: the idpEvents handler parses and looks people up through this list, the
 * configuration schema takes its idp and deployment fields from it (functions/lib/core/config.ts), and the stack its
 * EventBridge rules and the idpEvents role's statements (config/stack.js). A new provider is a module, its entry here,
 * and its fields in Module and the two spreads below (test/unit/idp/providers.test.ts fails until they are there).
 */
export const PROVIDERS = [identityCenter.provider, iam.provider, okta.provider] as const;

/*
 * The configuration fields are read from the same modules' `settings` and `deployment` exports, never through the
 * provider objects: every function validates the configuration, but only idpEvents parses events and reads
 * directories, and esbuild keeps in a bundle only what it uses (through PROVIDERS the directories would cost every
 * other function 20-50 KB).
 */
type Module = typeof identityCenter | typeof iam | typeof okta;
type Merged<U> = (U extends unknown ? (u: U) => void : never) extends (m: infer M) => void ? M : never;

/** Every provider's fields of the configuration's idp section. */
export const idpSettings = (): Merged<ReturnType<Module['settings']>> =>
  Object.assign({}, identityCenter.settings(), iam.settings(), okta.settings()) as Merged<ReturnType<Module['settings']>>;

/** Every provider's fields of the deployment section. */
export const deploymentSettings = (): Merged<ReturnType<Module['deployment']>> =>
  Object.assign({}, identityCenter.deployment(), iam.deployment(), okta.deployment()) as Merged<ReturnType<Module['deployment']>>;

type IdpConfig = z.infer<z.ZodObject<ReturnType<typeof idpSettings>>>;
type DeploymentConfig = z.infer<z.ZodObject<ReturnType<typeof deploymentSettings>>>;

/** Reads one EventBridge event; throws ValidationError (malformed) or returns the change or why it is ignored. */
export const parseIdentityEvent = (raw: unknown): ParsedEvent => {
  const envelope = obj(raw);
  if (!envelope) throw malformed('not a JSON object');
  const source = text(envelope.source, 'source');
  const detail = obj(envelope.detail);
  if (!detail) throw malformed('detail is missing');
  const provider = PROVIDERS.find((p) => p.accepts(envelope));
  if (provider) return provider.parse(envelope, detail);
  if (envelope['detail-type'] === CLOUDTRAIL) {
    // A record that failed or lacks its name and id says so first, whoever sent it.
    const record = cloudTrailRecord(detail);
    if ('ignored' in record) return record.ignored;
    throw malformed(`CloudTrail events from ${source} are not handled`);
  }
  throw malformed(`events from ${source} (${String(envelope['detail-type'])}) are not handled`);
};

/** Each change source's directory as configured (undefined: none; without an idp section, none at all). */
export const directories = (idp: IdpConfig | undefined, deps: DirectoryDeps): ((change: Pick<IdentityChange, 'source'>) => IdentityDirectory | undefined) => {
  const bySource = new Map<IdentityChange['source'], IdentityDirectory | undefined>();
  for (const p of PROVIDERS) {
    const directory = idp ? p.directory(idp, deps) : undefined;
    for (const s of p.sources) bySource.set(s, directory);
  }
  return (change) => bySource.get(change.source);
};

/** The EventBridge rules of every provider, as configured (config/stack.js). */
export const eventRules = (deployment: DeploymentConfig, home: Home): EventRule[] => PROVIDERS.flatMap((p) => p.eventRules(deployment, home));

/** What the idpEvents role needs to read the configured directories (config/stack.js). */
export const directoryStatements = (idp: IdpConfig | undefined, home: Home): IamStatement[] => PROVIDERS.flatMap((p) => p.statements(idp, home));
