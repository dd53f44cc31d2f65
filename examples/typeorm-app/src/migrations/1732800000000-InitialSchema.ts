import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The application's first schema, as `typeorm migration:generate` wrote it. */
export class InitialSchema1732800000000 implements MigrationInterface {
  name = 'InitialSchema1732800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "users" ("id" SERIAL NOT NULL, "email" text NOT NULL, "full_name" text NOT NULL, ` +
        `"login_count" integer NOT NULL DEFAULT 0, "legacy_code" text, CONSTRAINT "PK_users_id" PRIMARY KEY ("id"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "users"`);
  }
}
