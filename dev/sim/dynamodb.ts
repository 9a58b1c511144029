/**
 * A SIMULATION of the DynamoDB lock table (the principal lock, the database-user lease, reconcile coordination) and of
 * the tables declared with addTable (the access-request store: its own items, GetItem, Query on a global secondary
 * index): conditional UpdateItem for the expressions this project uses, strongly consistent, refusing unused names and
 * values as DynamoDB does. A request naming a table that was not declared goes to the lock table, whatever its name.
 * NOT modelled: other operations and expression syntax, throttling, TTL, the eventual consistency of a global
 * secondary index (a Query sees every write at once), Query pages smaller than Limit.
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  type GetItemCommandInput,
  QueryCommand,
  type QueryCommandInput,
  UpdateItemCommand,
  type AttributeValue,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { meta, tick } from '../sim-faults';

type Item = Record<string, AttributeValue>;

/** A global secondary index: items carrying its partition key, ordered by its sort key. */
export interface SimulatedIndex {
  partitionKey: string;
  sortKey: string;
}

interface Table {
  items: Map<string, Item>;
  indexes: Record<string, SimulatedIndex>;
}

export class SimulatedLockTable {
  /** The lock table's items (every table not declared with addTable). */
  readonly items = new Map<string, Item>();
  private readonly tables = new Map<string, Table>();

  /** Declares a table of its own (key `pk`, a string), as the stack creates it, with its global secondary indexes. */
  addTable(name: string, indexes: Record<string, SimulatedIndex> = {}): Map<string, Item> {
    const table = this.tables.get(name) ?? { items: new Map<string, Item>(), indexes };
    this.tables.set(name, table);
    return table.items;
  }

  private table(name: string | undefined): Table {
    return (name !== undefined ? this.tables.get(name) : undefined) ?? { items: this.items, indexes: {} };
  }

  /**
   * Condition expressions of the form the project writes: `attribute_not_exists(#a)`, `#a = :v`,
   * `#a < :v` (numbers), joined by AND / OR (AND binds tighter) and parentheses. Anything else is
   * refused, so a new expression is modelled before it is relied on.
   */
  private conditionHolds(item: Item | undefined, input: UpdateItemCommandInput): boolean {
    if (input.ConditionExpression === undefined) return true;
    const names = input.ExpressionAttributeNames ?? {};
    const values = input.ExpressionAttributeValues ?? {};
    const tokens = input.ConditionExpression.match(/\(|\)|attribute_not_exists|attribute_exists|AND|OR|[#:][A-Za-z0-9_]+|=|<|>/g) ?? [];
    let i = 0;
    const fail = (): never => {
      throw new Error(`the simulated lock table does not know the condition ${input.ConditionExpression}`);
    };
    const attr = (t: string | undefined): AttributeValue | undefined => (t?.startsWith('#') ? item?.[names[t] ?? fail()] : fail());
    const value = (t: string | undefined): AttributeValue => (t?.startsWith(':') ? (values[t] ?? fail()) : fail());
    const term = (): boolean => {
      const t = tokens[i++];
      if (t === '(') {
        const v = or();
        if (tokens[i++] !== ')') fail();
        return v;
      }
      if (t === 'attribute_not_exists' || t === 'attribute_exists') {
        if (tokens[i++] !== '(') fail();
        const a = attr(tokens[i++]);
        if (tokens[i++] !== ')') fail();
        return t === 'attribute_exists' ? a !== undefined : a === undefined;
      }
      const a = attr(t);
      const op = tokens[i++];
      const v = value(tokens[i++]);
      if (op === '=') return a !== undefined && JSON.stringify(a) === JSON.stringify(v);
      if (op === '<') return a?.N !== undefined && v.N !== undefined && Number(a.N) < Number(v.N);
      if (op === '>') return a?.N !== undefined && v.N !== undefined && Number(a.N) > Number(v.N);
      return fail();
    };
    const and = (): boolean => {
      let v = term();
      while (tokens[i] === 'AND') {
        i++;
        v = term() && v;
      }
      return v;
    };
    const or = (): boolean => {
      let v = and();
      while (tokens[i] === 'OR') {
        i++;
        v = and() || v;
      }
      return v;
    };
    const result = or();
    if (i !== tokens.length) fail();
    return result;
  }

  private update(input: UpdateItemCommandInput): { before?: Item; after: Item } {
    // DynamoDB refuses a request that defines a name or value its expressions do not use.
    const used = `${input.UpdateExpression ?? ''} ${input.ConditionExpression ?? ''}`;
    const unused = [...Object.keys(input.ExpressionAttributeNames ?? {}), ...Object.keys(input.ExpressionAttributeValues ?? {})].filter(
      (k) => !new RegExp(`${k}(?![A-Za-z0-9_])`).test(used),
    );
    if (unused.length)
      throw new DynamoDBServiceException({
        name: 'ValidationException',
        $fault: 'client',
        message: `Value provided in ExpressionAttributeNames or ExpressionAttributeValues unused in expressions: keys: {${unused.join(', ')}}`,
        $metadata: { httpStatusCode: 400 },
      });
    const key = input.Key?.pk?.S as string;
    const items = this.table(input.TableName).items;
    const current = items.get(key);
    if (!this.conditionHolds(current, input)) {
      throw new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        ...meta,
        ...(input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && current ? { Item: current } : {}),
      });
    }
    const next: Item = { ...(current ?? { pk: { S: key } }) };
    const names = input.ExpressionAttributeNames ?? {};
    const values = input.ExpressionAttributeValues ?? {};
    const [setPart, removePart] = (input.UpdateExpression ?? '').split(/\s*REMOVE\s*/);
    for (const assignment of (setPart ?? '')
      .replace(/^SET\s*/, '')
      .split(',')
      .filter((s) => s.includes('='))) {
      const [name, value] = assignment.split('=').map((s) => s.trim());
      next[names[name] ?? name] = values[value];
    }
    for (const name of (removePart ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      delete next[names[name] ?? name];
    items.set(key, next);
    return { before: current, after: next };
  }

  private get(input: GetItemCommandInput): Item | undefined {
    return this.table(input.TableName).items.get(input.Key?.pk?.S as string);
  }

  /** `#k = :v` on an index's partition key, in sort-key order (ScanIndexForward), Limit and ExclusiveStartKey. */
  private query(input: QueryCommandInput): { Items: Item[]; LastEvaluatedKey?: Item } {
    const table = this.table(input.TableName);
    const index = input.IndexName !== undefined ? table.indexes[input.IndexName] : undefined;
    const m = /^\s*(#\w+)\s*=\s*(:\w+)\s*$/.exec(input.KeyConditionExpression ?? '');
    const name = m ? input.ExpressionAttributeNames?.[m[1]] : undefined;
    const value = m ? input.ExpressionAttributeValues?.[m[2]] : undefined;
    if (!index || !name || name !== index.partitionKey || value === undefined)
      throw new Error(`the simulated table ${input.TableName} does not know the query ${input.IndexName}: ${input.KeyConditionExpression}`);
    const sortOf = (i: Item): string => `${i[index.sortKey]?.S ?? ''}\u0000${i.pk?.S ?? ''}`;
    const all = [...table.items.values()].filter((i) => JSON.stringify(i[name]) === JSON.stringify(value)).sort((a, b) => sortOf(a).localeCompare(sortOf(b)));
    if (input.ScanIndexForward === false) all.reverse();
    const start = input.ExclusiveStartKey ? all.findIndex((i) => i.pk?.S === input.ExclusiveStartKey?.pk?.S) + 1 : 0;
    const page = all.slice(start, input.Limit === undefined ? undefined : start + input.Limit);
    const more = start + page.length < all.length;
    const last = page[page.length - 1];
    return { Items: page, ...(more && last ? { LastEvaluatedKey: { pk: last.pk, [name]: last[name], [index.sortKey]: last[index.sortKey] } } : {}) };
  }

  install(): AwsClientStub<DynamoDBClient> {
    const m = mockClient(DynamoDBClient);
    m.on(UpdateItemCommand).callsFake(async (input: UpdateItemCommandInput) => {
      await tick();
      const { before, after } = this.update(input);
      const returned = input.ReturnValues === 'ALL_NEW' ? after : input.ReturnValues === 'ALL_OLD' ? before : undefined;
      return { ...(returned ? { Attributes: returned } : {}), ...meta };
    });
    m.on(GetItemCommand).callsFake(async (input: GetItemCommandInput) => {
      await tick();
      const item = this.get(input);
      return { ...(item ? { Item: item } : {}), ...meta };
    });
    m.on(QueryCommand).callsFake(async (input: QueryCommandInput) => {
      await tick();
      return { ...this.query(input), ...meta };
    });
    return m;
  }
}
