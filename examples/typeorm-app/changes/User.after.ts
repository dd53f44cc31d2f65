import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * The User entity after the change the README walks through: `fullName` renamed to `displayName`
 * (column display_name), `loginCount` widened to bigint, an index on email, a new nullable
 * `nickname`, and `legacyCode` gone. `typeorm migration:generate` would drop full_name and
 * login_count with their data; `ferry generate --rename users.full_name:display_name` does not.
 */
@Entity('users')
export class User {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id: number;

  @Index('users_email_idx')
  @Column('text')
  email: string;

  @Column('text', { name: 'display_name' })
  displayName: string;

  @Column('bigint', { name: 'login_count', default: 0 })
  loginCount: string;

  @Column('text', { nullable: true })
  nickname: string | null;
}
