import yauzl from 'yauzl';

export interface ZipEntry {
  name: string;
  data: Buffer;
}

/** Every file of a zip, read into memory (function zips are a few hundred KB). */
export const readZip = async (file: string): Promise<ZipEntry[]> => {
  const zip = await yauzl.openPromise(file, { lazyEntries: true });
  const out: ZipEntry[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      const chunks: Buffer[] = [];
      for await (const c of await zip.openReadStreamPromise(entry)) chunks.push(c as Buffer);
      out.push({ name: entry.fileName, data: Buffer.concat(chunks) });
    }
  } finally {
    zip.close();
  }
  return out;
};
