/**
 * The application at work: inserts users and updates existing ones through `repository.save()`,
 * one after the other, until SIGTERM; then prints what it wrote. `node --import tsx src/writer.ts <tag> <maxId>`.
 *
 * It writes the name through whichever property the User entity has — `fullName` before the
 * change, `displayName` after it — so the same file runs as the old release and the new one.
 */
import { AppDataSource } from './data-source';
import { User } from './entities/User';

async function main(tag: string, maxId: number): Promise<void> {
  await AppDataSource.initialize();
  const repo = AppDataSource.getRepository(User);
  const name = repo.metadata.findColumnWithPropertyName('displayName') ? 'displayName' : 'fullName';
  let stopping = false;
  process.on('SIGTERM', () => (stopping = true));
  let inserts = 0;
  let updates = 0;
  for (let n = 1; !stopping; n++) {
    await repo.save(repo.create({ email: `${tag}-${n}@example.com`, [name]: `${tag} new ${n}`, loginCount: n }));
    inserts++;
    const user = await repo.findOneBy({ id: 1 + ((n * 7919) % maxId) });
    if (user) {
      Object.assign(user, { [name]: `${tag} renamed ${n}`, loginCount: Number(user.loginCount) + 1 });
      await repo.save(user);
      updates++;
    }
    if (n === 1) console.log(`writer ${tag}: ready (writes ${name})`);
  }
  await AppDataSource.destroy();
  console.log(`writer ${tag}: ${inserts} inserts, ${updates} updates`);
}

main(process.argv[2] ?? 'app', Number(process.argv[3] ?? 1000)).catch((err) => {
  console.error(err);
  process.exit(1);
});
