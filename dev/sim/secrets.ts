/**
 * A SIMULATION of Secrets Manager GetSecretValue: the admin secrets of the targets.
 * NOT modelled: rotation, versions and stages, throttling, eventual consistency.
 */
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { meta, tick } from '../sim-faults';

export class SimulatedSecrets {
  readonly secrets = new Map<string, string>();

  put(arn: string, value: object): void {
    this.secrets.set(arn, JSON.stringify(value));
  }

  install(): AwsClientStub<SecretsManagerClient> {
    const m = mockClient(SecretsManagerClient);
    m.on(GetSecretValueCommand).callsFake(async (i: { SecretId: string }) => {
      await tick();
      const value = this.secrets.get(i.SecretId);
      if (value === undefined) throw new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", ...meta });
      return { ARN: i.SecretId, SecretString: value, ...meta };
    });
    return m;
  }
}
