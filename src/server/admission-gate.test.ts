import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AdmissionGate, type Admitted } from './admission-gate.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Whether a promise has settled, checked after pending microtasks run. */
async function settled<T>(promise: Promise<T>): Promise<{ done: boolean; value?: T }> {
  let state: { done: boolean; value?: T } = { done: false };
  void promise.then((value) => (state = { done: true, value }));
  await vi.advanceTimersByTimeAsync(0);
  return state;
}

describe('AdmissionGate', () => {
  it('admits bodies up to the limit, then makes the next wait until room comes free', async () => {
    const states: Array<{ pending: number; waiting: number }> = [];
    const gate = new AdmissionGate({
      capacity: 100,
      maxWaitMs: 1000,
      onChange: (s) => states.push(s),
    });
    const a = (await gate.admit(60))!;
    const b = (await gate.admit(40))!;
    expect(gate.pending).toBe(100);
    const c = gate.admit(10);
    expect((await settled(c)).done).toBe(false);
    expect(gate.waiting).toBe(1);
    a.release();
    const admitted = await settled(c);
    expect(admitted.done).toBe(true);
    expect(admitted.value).not.toBeNull();
    expect(gate.pending).toBe(50);
    expect(gate.waiting).toBe(0);
    b.release();
    admitted.value!.release();
    expect(gate.pending).toBe(0);
    expect(states.at(-1)).toEqual({ pending: 0, waiting: 0 });
  });

  it('admits a body larger than the limit alone, once nothing else is held', async () => {
    const gate = new AdmissionGate({ capacity: 100, maxWaitMs: 1000 });
    const small = (await gate.admit(10))!;
    const large = gate.admit(500);
    expect((await settled(large)).done).toBe(false);
    small.release();
    const admitted = await settled(large);
    expect(admitted.value).not.toBeNull();
    expect(gate.pending).toBe(500);
    expect((await settled(gate.admit(1))).done).toBe(false);
  });

  it('serves waiters in arrival order: a small body does not pass a large one waiting before it', async () => {
    const gate = new AdmissionGate({ capacity: 100, maxWaitMs: 1000 });
    const held = (await gate.admit(90))!;
    const large = gate.admit(80);
    const small = gate.admit(5);
    expect((await settled(small)).done).toBe(false);
    held.release();
    expect((await settled(large)).value).not.toBeNull();
    expect((await settled(small)).value).not.toBeNull();
    expect(gate.pending).toBe(85);
  });

  it('refuses a request that found no room within the wait, holding nothing for it, and lets those behind it in', async () => {
    const gate = new AdmissionGate({ capacity: 100, maxWaitMs: 1000 });
    const held = (await gate.admit(70))!;
    const large = gate.admit(50);
    const small = gate.admit(20);
    await vi.advanceTimersByTimeAsync(999);
    expect((await settled(large)).done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await settled(large)).value).toBeNull();
    // The refused head no longer holds back the small request, which fits beside what is held.
    expect((await settled(small)).value).not.toBeNull();
    expect(gate.pending).toBe(90);
    expect(gate.waiting).toBe(0);
    held.release();
    expect(gate.pending).toBe(20);
  });

  it('refuses at once when no wait is allowed', async () => {
    const gate = new AdmissionGate({ capacity: 100, maxWaitMs: 0 });
    const held = (await gate.admit(100))!;
    expect(await gate.admit(1)).toBeNull();
    expect(gate.waiting).toBe(0);
    held.release();
    expect(await gate.admit(1)).not.toBeNull();
  });

  it('gives back what a body did not need once it is read, and a reservation only once', async () => {
    const gate = new AdmissionGate({ capacity: 100, maxWaitMs: 1000 });
    const reserved: Admitted = (await gate.admit(100))!;
    const next = gate.admit(60);
    reserved.shrink(30);
    expect((await settled(next)).value).not.toBeNull();
    expect(gate.pending).toBe(90);
    reserved.shrink(80); // never grows back
    expect(gate.pending).toBe(90);
    reserved.release();
    reserved.release();
    expect(gate.pending).toBe(60);
  });

  it('waits without a time limit when told to, until room comes free or the client goes away', async () => {
    const gate = new AdmissionGate({ capacity: 1, maxWaitMs: Infinity });
    const running = (await gate.admit(1))!;
    const client = new AbortController();
    const gone = gate.admit(1, client.signal);
    const next = gate.admit(1);
    await vi.advanceTimersByTimeAsync(24 * 3600_000);
    expect((await settled(gone)).done).toBe(false);
    expect(gate.waiting).toBe(2);
    client.abort();
    expect((await settled(gone)).value).toBeNull();
    expect(gate.waiting).toBe(1);
    running.release();
    expect((await settled(next)).value).not.toBeNull();
    expect(gate.pending).toBe(1);
    expect(await gate.admit(1, AbortSignal.abort())).toBeNull();
  });

  it('asks a refused request back after the time the bodies ahead take to drain at the rate they drained lately', async () => {
    const gate = new AdmissionGate({ capacity: 100, maxWaitMs: 0, now: Date.now });
    const first = (await gate.admit(100))!;
    // Nothing freed yet: no rate to go by.
    expect(gate.retryAfterSeconds(50, 1, 30)).toBe(30);
    // 100 units freed over 4 s: 25 per second.
    vi.advanceTimersByTime(4000);
    first.release();
    const held = (await gate.admit(100))!;
    expect(await gate.admit(50)).toBeNull();
    // 50 more than the room: 2 s at 25 per second.
    expect(gate.retryAfterSeconds(50, 1, 30)).toBe(2);
    // Each request waiting goes first, and makes the estimate longer.
    const waiting = new AdmissionGate({ capacity: 100, maxWaitMs: 1000, now: Date.now });
    vi.advanceTimersByTime(1000);
    (await waiting.admit(100))!.release(); // 100 per second
    const full = (await waiting.admit(100))!;
    void waiting.admit(100);
    void waiting.admit(100);
    expect(waiting.retryAfterSeconds(100, 1, 30)).toBe(3);
    expect(waiting.retryAfterSeconds(100, 5, 30)).toBe(5);
    // A gate that freed nothing for longer than its window has no rate again.
    vi.advanceTimersByTime(60_000);
    expect(gate.retryAfterSeconds(50, 1, 30)).toBe(30);
    held.release();
    full.release();
    expect(gate.retryAfterSeconds(50, 1, 30)).toBe(1);
  });
});
