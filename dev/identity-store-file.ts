import * as z from 'zod';
import { configErrorMap, formatIssues } from '../functions/lib/core/config-issues';
import { displayPath, readJsonFile } from '../functions/lib/core/config-file';
import { ConfigurationError } from '../functions/lib/core/errors';
import type { IdentityStoreData } from './simulated-services';

/**
 * The people and groups of local mode's simulated identity store (config/identity-store.local.json,
 * LOCAL_IDENTITY_STORE). Strict like the targets file: a misspelt "status" or "groups" would otherwise make a
 * person silently active or in no group, and the identity-provider flows would show something else than meant.
 */
export const identityStoreFileSchema = z.strictObject({
  users: z.array(
    z.strictObject({
      userId: z.string().min(1),
      userName: z.string().min(1),
      status: z.enum(['ENABLED', 'DISABLED']).optional(),
      groups: z.array(z.string()).default([]),
    }),
  ),
  groups: z.array(z.strictObject({ groupId: z.string().min(1), displayName: z.string().min(1) })),
});

/** Reads and checks the file before local mode starts anything; every message names the file and the field. */
export const loadIdentityStoreFile = (file: string): IdentityStoreData => {
  const source = displayPath(file);
  const result = identityStoreFileSchema.safeParse(readJsonFile(file), { error: configErrorMap, reportInput: true });
  if (!result.success) throw new ConfigurationError(source, 'invalid identity store file', formatIssues(result.error.issues));
  const groupIds = new Set(result.data.groups.map((g) => g.groupId));
  const problems = result.data.users.flatMap((u, i) =>
    u.groups.flatMap((g, j) => (groupIds.has(g) ? [] : [`users.${i}.groups.${j}: "${g}" is not the groupId of any entry in groups`])),
  );
  if (problems.length) throw new ConfigurationError(source, 'invalid identity store file', problems);
  return result.data;
};
