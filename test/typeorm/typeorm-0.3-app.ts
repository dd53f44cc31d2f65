/**
 * A TypeORM 0.3 application for test/typeorm/typeorm-0.3.test.ts: its entity and DataSource are
 * built with TypeORM 0.3.31 (the `typeorm-0.3` npm alias), never with the 1.x that ferry resolves.
 * EntitySchema objects, so no decorator metadata is involved.
 */
const typeorm03 = require('typeorm-0.3') as typeof import('typeorm');

export const { DataSource, EntitySchema } = typeorm03;

/** The application's user: `fullName` before the change, `displayName` after. */
export class User {
  id!: number;
  email!: string;
  fullName?: string;
  displayName?: string;
}

/** The users table with `columns` of full_name and display_name (each nullable unless `notNull`). */
export function userSchema(columns: { fullName?: boolean; displayName?: boolean; displayNameNotNull?: boolean }) {
  return new EntitySchema<User>({
    name: 'User',
    target: User,
    tableName: 'users',
    columns: {
      id: { type: Number, primary: true, generated: 'increment' },
      email: { type: 'text' },
      ...(columns.fullName ? { fullName: { type: 'text', name: 'full_name', nullable: true } } : {}),
      ...(columns.displayName ? { displayName: { type: 'text', name: 'display_name', nullable: !columns.displayNameNotNull } } : {}),
    },
  });
}

/** The DDL of the table before the change, as the application's first migration made it. */
export const USERS_DDL = 'CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, full_name text)';

/** A 0.3 DataSource on the database at `url`. */
export function dataSourceFor(
  url: string,
  options: { entities?: unknown[]; migrations?: unknown[]; subscribers?: unknown[] } = {},
): InstanceType<typeof DataSource> {
  return new DataSource({
    type: 'postgres',
    url,
    entities: (options.entities ?? [userSchema({ fullName: true })]) as never,
    migrations: (options.migrations ?? []) as never,
    subscribers: (options.subscribers ?? []) as never,
    logging: false,
  });
}
