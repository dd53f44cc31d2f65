import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * The User entity of a release that writes both shapes itself (dualWrite: { by: 'app' }): the old
 * `fullName` and the new `displayName`, kept equal by the UserDualWrite subscriber on save().
 */
@Entity('users')
export class User {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id: number;

  @Column('text')
  email: string;

  @Column('text', { name: 'full_name' })
  fullName: string;

  @Column('text', { name: 'display_name', nullable: true })
  displayName: string | null;

  @Column('integer', { name: 'login_count', default: 0 })
  loginCount: number;

  @Column('text', { name: 'legacy_code', nullable: true })
  legacyCode: string | null;
}
