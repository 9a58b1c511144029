/**
 * A SIMULATION of the archive bucket (S3 Put/Get/ListObjectsV2 with If-None-Match), in memory and, in local mode,
 * as files.
 * NOT modelled: versioning, Object Lock, lifecycle rules, KMS, throttling.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { meta, tick } from '../sim-faults';

type S3Body = { transformToString: () => Promise<string>; transformToByteArray: () => Promise<Uint8Array> };

/**
 * The archive bucket: objects in memory, and, when `directory` is set (local mode), also as files
 * under DIRECTORY/BUCKET/KEY, so the archive outlives the process as it outlives Step Functions.
 */
export class SimulatedS3 {
  readonly objects = new Map<string, { body: string; metadata: Record<string, string>; lastModified: Date }>();
  directory?: string;

  private path(bucket: string, key: string): string {
    const p = resolve(this.directory as string, bucket, key);
    if (!p.startsWith(resolve(this.directory as string, bucket) + sep)) throw new Error(`key ${key} leaves the bucket folder`);
    return p;
  }

  private get(bucket: string, key: string): string | undefined {
    const held = this.objects.get(`${bucket}/${key}`)?.body;
    if (held !== undefined || !this.directory) return held;
    const p = this.path(bucket, key);
    return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
  }

  install(): AwsClientStub<S3Client> {
    const m = mockClient(S3Client);
    m.on(PutObjectCommand).callsFake(async (i: { Bucket: string; Key: string; Body: string; Metadata?: Record<string, string>; IfNoneMatch?: string }) => {
      await tick();
      // Conditional write (IfNoneMatch: '*'), as S3 answers it: 412 PreconditionFailed when the key exists.
      if (i.IfNoneMatch === '*' && this.get(i.Bucket, i.Key) !== undefined) {
        throw new S3ServiceException({
          name: 'PreconditionFailed',
          $fault: 'client',
          message: 'At least one of the pre-conditions you specified did not hold',
          ...meta,
          $metadata: { httpStatusCode: 412 },
        });
      }
      const body = typeof i.Body === 'string' ? i.Body : new TextDecoder().decode(i.Body as Uint8Array);
      this.objects.set(`${i.Bucket}/${i.Key}`, { body, metadata: i.Metadata ?? {}, lastModified: new Date() });
      if (this.directory) {
        const p = this.path(i.Bucket, i.Key);
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, body);
      }
      return { ETag: `"${i.Key.length}-${body.length}"`, ...meta };
    });
    m.on(ListObjectsV2Command).callsFake(async (i: { Bucket: string; Prefix?: string; StartAfter?: string; ContinuationToken?: string; MaxKeys?: number }) => {
      await tick();
      const keys = new Set([...this.objects.keys()].filter((k) => k.startsWith(`${i.Bucket}/`)).map((k) => k.slice(i.Bucket.length + 1)));
      if (this.directory && existsSync(resolve(this.directory, i.Bucket))) {
        const walk = (dir: string, prefix: string): void => {
          for (const f of readdirSync(dir, { withFileTypes: true }))
            f.isDirectory() ? walk(join(dir, f.name), `${prefix}${f.name}/`) : keys.add(`${prefix}${f.name}`);
        };
        walk(resolve(this.directory, i.Bucket), '');
      }
      // Keys in UTF-8 binary order, as S3 lists them; the continuation token is the last key returned.
      const after = i.ContinuationToken ?? i.StartAfter ?? '';
      const all = [...keys].filter((k) => k.startsWith(i.Prefix ?? '') && k > after).sort();
      const max = i.MaxKeys ?? 1000;
      const page = all.slice(0, max);
      const truncated = all.length > max;
      return {
        Contents: page.map((Key) => ({ Key })),
        KeyCount: page.length,
        IsTruncated: truncated,
        ...(truncated ? { NextContinuationToken: page.at(-1) } : {}),
        ...meta,
      };
    });
    m.on(GetObjectCommand).callsFake(async (i: { Bucket: string; Key: string }) => {
      await tick();
      const body = this.get(i.Bucket, i.Key);
      if (body === undefined) throw new NoSuchKey({ message: 'The specified key does not exist.', ...meta });
      const Body: S3Body = { transformToString: async () => body, transformToByteArray: async () => new TextEncoder().encode(body) };
      return { Body, ContentType: 'application/json', ...meta };
    });
    return m;
  }
}
