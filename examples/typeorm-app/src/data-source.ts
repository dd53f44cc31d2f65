import 'reflect-metadata';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { User } from './entities/User';

/**
 * The application's DataSource: TypeORM's CLI (`typeorm migration:run -d src/data-source.ts`),
 * the application and ferry (`FERRY_DATA_SOURCE=src/data-source.ts`) all read it. Its settings
 * come from the environment; nothing secret is in the file.
 */
export const AppDataSource = new DataSource({
  type: 'postgres',
  host: process.env.DB_HOST ?? '127.0.0.1',
  port: Number(process.env.DB_PORT ?? 5432),
  username: process.env.DB_USER ?? 'postgres',
  password: process.env.DB_PASSWORD,
  database: process.env.DB_NAME ?? 'typeorm_app',
  schema: process.env.DB_SCHEMA || undefined,
  ssl: process.env.DB_SSL === 'true' ? { rejectUnauthorized: true } : false,
  entities: [User],
  migrations: [path.join(__dirname, 'migrations', '*.{ts,js}')],
  subscribers: [path.join(__dirname, 'subscribers', '*.{ts,js}')],
  // One transaction per migration, so that a ferry migration can declare `transaction = false`.
  migrationsTransactionMode: 'each',
});
