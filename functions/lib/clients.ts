import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * SDK clients, created once per container and reused across invocations. Targets may live in
 * other Regions than the stack, so RDS and Secrets Manager clients are per Region.
 */
const perRegion = <T>(make: (region: string) => T): ((region: string) => T) => {
  const cache = new Map<string, T>();
  return (region) => {
    let client = cache.get(region);
    if (!client) cache.set(region, (client = make(region)));
    return client;
  };
};

export const rdsClient = perRegion((region) => new RDSClient({ region }));
export const secretsClient = perRegion((region) => new SecretsManagerClient({ region }));

let iam: IAMClient | undefined;
export const iamClient = (): IAMClient => (iam ??= new IAMClient({}));

let ddb: DynamoDBClient | undefined;
export const dynamoClient = (): DynamoDBClient => (ddb ??= new DynamoDBClient({}));
