import { type DynamoDBClient, GetItemCommand, QueryCommand, type QueryCommandOutput } from '@aws-sdk/client-dynamodb';
import { mapAwsError } from '../core/aws-errors';
import { conditionalUpdate, type Item } from '../core/conditional-update';
import { type AccessRequest, REQUEST_STATES, type RequestState, type Transition } from './lifecycle';

/**
 * Where access requests live: the lifecycle's records (votes, deadlines, who holds what until when), which no
 * managed system holds. PostgreSQL and IAM stay the truth for who can connect; this is the truth for what was asked,
 * decided and promised.
 */
export interface AccessRequestStore {
  /**
   * Writes a transition if the record is still at its expectedVersion (0: if there is none yet). Of concurrent writes
   * over one version exactly one wins; the others get the record as it now is.
   */
  write: (t: Transition) => Promise<{ won: true } | { won: false; current?: AccessRequest }>;
  /** The record as last written (a strongly consistent read). */
  get: (requestId: string) => Promise<AccessRequest | undefined>;
  /** Records in these states, oldest first (an index: it may lag a write by a moment). */
  list: (states: readonly RequestState[]) => Promise<AccessRequest[]>;
}

/** The index of records by state, ordered by creation: what GET /approvals and the sweeper ask for (projection ALL). */
export const BY_STATE_INDEX = 'by-state';
export const BY_STATE_KEYS = { partitionKey: 'state', sortKey: 'createdAt' } as const;

/**
 * One DynamoDB table, key `pk` (the request id), the record as JSON in `doc` beside the attributes that index and
 * condition it. Every write is one conditional UpdateItem (core/conditional-update.ts) on `version`.
 */
export const dynamoAccessRequestStore = (ddb: DynamoDBClient, table: string): AccessRequestStore => {
  const parse = (item: Item | undefined): AccessRequest | undefined => (item?.doc?.S ? (JSON.parse(item.doc.S) as AccessRequest) : undefined);
  return {
    write: async ({ expectedVersion, next }) => {
      const outcome = await conditionalUpdate(
        ddb,
        table,
        next.requestId,
        {
          update: 'SET #doc = :doc, #version = :version, #state = :state, #createdAt = :createdAt, #target = :target, #subject = :subject',
          condition: expectedVersion === 0 ? 'attribute_not_exists(#pk)' : '#version = :expected',
          names: {
            '#pk': 'pk',
            '#doc': 'doc',
            '#version': 'version',
            '#state': 'state',
            '#createdAt': 'createdAt',
            '#target': 'target',
            '#subject': 'subject',
          },
          values: {
            ':doc': { S: JSON.stringify(next) },
            ':version': { N: String(next.version) },
            ':state': { S: next.state },
            ':createdAt': { S: next.createdAt },
            ':target': { S: next.plan.target },
            ':subject': { S: next.subject },
            ...(expectedVersion === 0 ? {} : { ':expected': { N: String(expectedVersion) } }),
          },
        },
        `writing access request ${next.requestId}`,
      );
      return outcome.failed ? { won: false, current: parse(outcome.item) } : { won: true };
    },
    get: async (requestId) => {
      try {
        const out = await ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: requestId } }, ConsistentRead: true }));
        return parse(out.Item);
      } catch (e) {
        return mapAwsError(e, `reading access request ${requestId}`);
      }
    },
    list: async (states) => {
      const found: AccessRequest[] = [];
      for (const state of states.length ? states : REQUEST_STATES) {
        let start: Record<string, Item[string]> | undefined;
        do {
          let out: QueryCommandOutput;
          try {
            out = await ddb.send(
              new QueryCommand({
                TableName: table,
                IndexName: BY_STATE_INDEX,
                KeyConditionExpression: '#state = :state',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: { ':state': { S: state } },
                ...(start ? { ExclusiveStartKey: start } : {}),
              }),
            );
          } catch (e) {
            return mapAwsError(e, `listing ${state} access requests`);
          }
          for (const item of out.Items ?? []) {
            const r = parse(item);
            if (r) found.push(r);
          }
          start = out.LastEvaluatedKey;
        } while (start);
      }
      return found.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.requestId.localeCompare(b.requestId));
    },
  };
};
