/**
 * A SIMULATION of EventBridge PutEvents on the default bus: events are kept in order, as a rule's target would get
 * them, and PutEvents refuses what EventBridge refuses (a Detail that is not a JSON object, more than 10 entries).
 * NOT modelled: rules and their patterns, other buses, throttling, the 256 KB size limit.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { meta, tick } from '../sim-faults';

export interface PutEvent {
  source: string;
  detailType: string;
  detail: Record<string, unknown>;
}

export class SimulatedEvents {
  readonly events: PutEvent[] = [];

  install(): AwsClientStub<EventBridgeClient> {
    const m = mockClient(EventBridgeClient);
    m.on(PutEventsCommand).callsFake(async (i: { Entries?: Array<{ Source?: string; DetailType?: string; Detail?: string }> }) => {
      await tick();
      const entries = i.Entries ?? [];
      if (entries.length === 0 || entries.length > 10) throw Object.assign(new Error('Entries: 1 to 10 entries'), { name: 'ValidationException' });
      const results = entries.map((e) => {
        let detail: unknown;
        try {
          detail = JSON.parse(e.Detail ?? '');
        } catch {
          detail = undefined;
        }
        if (!e.Source || !e.DetailType || typeof detail !== 'object' || detail === null || Array.isArray(detail))
          return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
        this.events.push({ source: e.Source, detailType: e.DetailType, detail: detail as Record<string, unknown> });
        return { EventId: `sim-${this.events.length}` };
      });
      return { Entries: results, FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, ...meta };
    });
    return m;
  }
}
