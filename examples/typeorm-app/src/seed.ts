/**
 * Seeds the example database with users: `node --import tsx src/seed.ts [count]` (default 1000).
 * Rows go in through TypeORM's query builder, 1000 at a time.
 */
import { AppDataSource } from './data-source';
import { User } from './entities/User';

async function seed(count: number): Promise<void> {
  await AppDataSource.initialize();
  try {
    const repo = AppDataSource.getRepository(User);
    for (let start = 1; start <= count; start += 1000) {
      const rows = [];
      for (let i = start; i < Math.min(start + 1000, count + 1); i++) {
        rows.push({ email: `user${i}@example.com`, fullName: `User ${i}`, loginCount: i % 97, legacyCode: i % 3 ? null : `L${i}` });
      }
      await repo.createQueryBuilder().insert().into(User).values(rows).execute();
    }
    console.log(`seeded ${count} users`);
  } finally {
    await AppDataSource.destroy();
  }
}

seed(Number(process.argv[2] ?? 1000)).catch((err) => {
  console.error(err);
  process.exit(1);
});
