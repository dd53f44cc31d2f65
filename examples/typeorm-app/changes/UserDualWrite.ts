// src/subscribers/UserDualWrite.ts in a release that writes both shapes through save().
import { dualWriteSubscriber } from 'ferry/typeorm';
import { User } from '../entities/User';

export const UserDualWrite = dualWriteSubscriber(User, (user) => {
  if (user.fullName !== undefined) user.displayName = user.fullName;
});
