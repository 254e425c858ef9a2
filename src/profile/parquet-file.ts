import { open, type FileHandle } from 'node:fs/promises';
import type { AsyncBuffer } from 'hyparquet';
import { ParquetFileError, readParquetRows, type ParquetItem } from './parquet-rows.ts';

/** A file opened for Parquet's ranged reads, counting the bytes read. */
class FileBuffer implements AsyncBuffer {
  constructor(
    private readonly handle: FileHandle,
    readonly byteLength: number,
    private readonly progress: { bytesRead: number },
  ) {}

  async slice(start: number, end = this.byteLength): Promise<ArrayBuffer> {
    const length = Math.max(0, end - start);
    const buffer = new ArrayBuffer(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(
        new Uint8Array(buffer, done),
        0,
        length - done,
        start + done,
      );
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    this.progress.bytesRead += done;
    return buffer;
  }
}

/** `readParquetRows` of a file on disk; `progress` counts the bytes read from it. */
export async function* readParquetFile(
  path: string,
  progress: { bytesRead: number } = { bytesRead: 0 },
): AsyncGenerator<ParquetItem> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new ParquetFileError(`Cannot open ${path}`, [{ path, reason: String(error) }], 'Check the path', {
      cause: error,
    });
  }
  try {
    const { size } = await handle.stat();
    yield* readParquetRows(new FileBuffer(handle, size, progress), path);
  } finally {
    await handle.close();
  }
}
