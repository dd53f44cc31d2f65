import pg from 'pg';

/** Every statement text that a `pg` client sends while `fn` runs, with the client that sent it. */
export async function recordQueries<T>(fn: () => Promise<T>): Promise<{ result: T; sent: { client: pg.Client; text: string }[] }> {
  const sent: { client: pg.Client; text: string }[] = [];
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string };
    sent.push({ client: this, text: typeof first === 'string' ? first : (first.text ?? '') });
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  try {
    return { result: await fn(), sent };
  } finally {
    pg.Client.prototype.query = query;
  }
}
