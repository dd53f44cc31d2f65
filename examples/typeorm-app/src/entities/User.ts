import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A user of the example application. Column types are spelled out: tsx and other esbuild-based
 * runners do not emit decorator metadata, from which TypeORM would otherwise infer them.
 */
@Entity('users')
export class User {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id: number;

  @Column('text')
  email: string;

  @Column('text', { name: 'full_name' })
  fullName: string;

  @Column('integer', { name: 'login_count', default: 0 })
  loginCount: number;

  @Column('text', { name: 'legacy_code', nullable: true })
  legacyCode: string | null;
}
