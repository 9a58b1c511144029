import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { IAMClient } from '@aws-sdk/client-iam';
import { IdentitystoreClient } from '@aws-sdk/client-identitystore';
import { RDSClient } from '@aws-sdk/client-rds';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';

/**
 * SDK clients, created once per container and reused across invocations. Targets may live in
 * other Regions than the stack, so RDS and Secrets Manager clients are per Region. The factories are marked pure
 * so a function's bundle keeps only the clients it uses (cold start: issue 13).
 */
const perRegion = <T>(make: (region: string) => T): ((region: string) => T) => {
  const cache = new Map<string, T>();
  return (region) => {
    let client = cache.get(region);
    if (!client) cache.set(region, (client = make(region)));
    return client;
  };
};

export const rdsClient = /* @__PURE__ */ perRegion((region) => new RDSClient({ region }));
export const secretsClient = /* @__PURE__ */ perRegion((region) => new SecretsManagerClient({ region }));
export const identitystoreClient = /* @__PURE__ */ perRegion((region) => new IdentitystoreClient({ region }));

let iam: IAMClient | undefined;
export const iamClient = (): IAMClient => (iam ??= new IAMClient({}));

let ddb: DynamoDBClient | undefined;
export const dynamoClient = (): DynamoDBClient => (ddb ??= new DynamoDBClient({}));

let sfn: SFNClient | undefined;
export const sfnClient = (): SFNClient => (sfn ??= new SFNClient({}));

let s3: S3Client | undefined;
export const s3Client = (): S3Client => (s3 ??= new S3Client({}));

let lambda: LambdaClient | undefined;
export const lambdaClient = (): LambdaClient => (lambda ??= new LambdaClient({}));

let sns: SNSClient | undefined;
export const snsClient = (): SNSClient => (sns ??= new SNSClient({}));

let events: EventBridgeClient | undefined;
export const eventBridgeClient = (): EventBridgeClient => (events ??= new EventBridgeClient({}));

let scheduler: SchedulerClient | undefined;
export const schedulerClient = (): SchedulerClient => (scheduler ??= new SchedulerClient({}));
