// How long a call took and how it ended, for tests that bound the time a
// call may take (deadlines): the clock starts before the call is made.

export interface Timed<T> {
  readonly ms: number;
  readonly value?: T;
  readonly error?: unknown;
}

export async function timed<T>(call: () => Promise<T>): Promise<Timed<T>> {
  const started = Date.now();
  try {
    const value = await call();
    return { ms: Date.now() - started, value };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}
