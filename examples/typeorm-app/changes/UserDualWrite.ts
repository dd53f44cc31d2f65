// src/subscribers/UserDualWrite.ts (DataSource: subscribers: [UserDualWrite], or a glob)
import { dualWriteSubscriber } from 'ferry/typeorm';
import { User } from '../entities/User';

export const UserDualWrite = dualWriteSubscriber(User, (user) => {
  if (user.fullName !== undefined) user.displayName = user.fullName;
});
