import { type AttributeValue, ConditionalCheckFailedException, type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { awsErrorName, mapAwsError } from './aws-errors';

export type Item = Record<string, AttributeValue>;

/** What a conditional write found: the item before it (it applied), or the item as it is (the condition failed). */
export type ConditionalOutcome = { failed: false; item?: Item } | { failed: true; item?: Item };

/**
 * One conditional UpdateItem on the lock table (the principal lock's neighbours: the database-user lease, reconcile
 * coordination). `names` may hold every attribute name its caller uses: only those the expressions mention are sent,
 * as DynamoDB refuses a request that defines a name it does not use. `what` names the work in a transient error.
 */
export const conditionalUpdate = async (
  ddb: DynamoDBClient,
  table: string,
  pk: string,
  write: { update: string; condition: string; names: Record<string, string>; values: Record<string, AttributeValue> },
  what: string,
): Promise<ConditionalOutcome> => {
  const expressions = `${write.update} ${write.condition}`;
  try {
    const out = await ddb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: pk } },
        UpdateExpression: write.update,
        ConditionExpression: write.condition,
        ExpressionAttributeNames: Object.fromEntries(Object.entries(write.names).filter(([n]) => new RegExp(`${n}(?![A-Za-z0-9_])`).test(expressions))),
        ExpressionAttributeValues: write.values,
        ReturnValues: 'ALL_OLD',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { failed: false, item: out.Attributes };
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException || awsErrorName(e) === 'ConditionalCheckFailedException')
      return { failed: true, item: (e as ConditionalCheckFailedException).Item };
    return mapAwsError(e, what);
  }
};
