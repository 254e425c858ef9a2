import { afterEach, describe, expect, it } from 'vitest';
import { ThreadPool } from './thread-pool.ts';

type Task = { kind: 'echo' | 'fail' | 'exit'; value: string };
type Result = { value: string; thread: number };

const pools: Array<ThreadPool<Task, Result>> = [];
const pool = (size: number) => {
  const p = new ThreadPool<Task, Result>({
    size,
    entry: new URL('../../test/fixtures/echo-worker.ts', import.meta.url),
    data: { prefix: '> ' },
    reviveError: (message, payload) =>
      Object.assign(new Error(message), { code: (payload as { code?: string }).code }),
  });
  pools.push(p);
  return p;
};

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('ThreadPool', () => {
  it('runs TypeScript workers with their data, spreading tasks over the threads', async () => {
    const p = pool(2);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => p.run({ kind: 'echo', value: `t${i}` })),
    );
    expect(results.map((r) => r.value)).toEqual(Array.from({ length: 8 }, (_, i) => `> t${i}`));
    expect(new Set(results.map((r) => r.thread)).size).toBe(2);
  });

  it("passes a task's error back through reviveError and keeps the worker", async () => {
    const p = pool(1);
    const first = await p.run({ kind: 'echo', value: 'a' });
    await expect(p.run({ kind: 'fail', value: 'b' })).rejects.toMatchObject({
      message: 'refused b',
      code: 'E_REFUSED',
    });
    expect((await p.run({ kind: 'echo', value: 'c' })).thread).toBe(first.thread);
  });

  it('fails the tasks of a worker that dies and replaces it on the next call', async () => {
    const p = pool(1);
    const first = await p.run({ kind: 'echo', value: 'a' });
    await expect(p.run({ kind: 'exit', value: '' })).rejects.toThrow(/exited with code 3/);
    const next = await p.run({ kind: 'echo', value: 'b' });
    expect(next.value).toBe('> b');
    expect(next.thread).not.toBe(first.thread);
  });

  it('refuses work once closed', async () => {
    const p = pool(1);
    await p.run({ kind: 'echo', value: 'a' });
    await p.close();
    await expect(p.run({ kind: 'echo', value: 'b' })).rejects.toThrow(/closed/);
  });
});
