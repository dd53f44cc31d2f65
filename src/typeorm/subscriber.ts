/**
 * Dual writes from a TypeORM application that writes with `save()`: an entity subscriber that
 * fills the new shape from the entity before TypeORM inserts or updates it.
 *
 * What a subscriber never sees (so ferry's trigger mode is the safe default, and ferry's probe and
 * verify are what catch the rest): `Repository.update()` and QueryBuilder `.update()` reach
 * `beforeUpdate` with only the values being set, no row and no `databaseEntity` (typeorm#2246,
 * #9973): this helper skips them (the function would see a partial object) and warns once; raw SQL
 * (`query()`, migrations, other services) fires no subscriber at all.
 */
import { EventSubscriber, type EntitySubscriberInterface, type InsertEvent, type ObjectLiteral, type UpdateEvent } from 'typeorm';

/** Warned once per entity: an update() that bypasses the dual write. */
const warned = new Set<unknown>();

/**
 * A subscriber class (registered as `@EventSubscriber()` does) for the DataSource's `subscribers`: before every insert of `entity` and
 * every update through `save()`, `write(row)` sets the new-shape properties from the old ones.
 * `write` must be idempotent and read only the entity it is given.
 * @example
 * // src/subscribers/UserDualWrite.ts (DataSource: subscribers: [UserDualWrite])
 * export const UserDualWrite = dualWriteSubscriber(User, (user) => { user.displayName = user.fullName; });
 */
export function dualWriteSubscriber<T extends ObjectLiteral>(
  entity: new (...args: never[]) => T,
  write: (row: T) => void,
): new () => EntitySubscriberInterface<T> {
  class FerryDualWriteSubscriber implements EntitySubscriberInterface<T> {
    listenTo(): new (...args: never[]) => T {
      return entity;
    }

    beforeInsert(event: InsertEvent<T>): void {
      if (event.entity) write(event.entity);
    }

    beforeUpdate(event: UpdateEvent<T>): void {
      if (event.entity && event.databaseEntity) {
        write(event.entity as T);
        return;
      }
      if (!warned.has(entity)) {
        warned.add(entity);
        console.warn(
          `ferry: dualWriteSubscriber(${entity.name}): an update() or QueryBuilder update bypassed the dual write ` +
            "(TypeORM gives subscribers no row for it); use save(), or ferry's trigger mode (dualWrite: { by: 'trigger' }). " +
            "ferry's probe and verify find the rows it left in the old shape.",
        );
      }
    }
  }
  // As @EventSubscriber() does: TypeORM instantiates only registered subscriber classes. Every copy of
  // TypeORM (1.x and 0.3 alike) keeps that registry in one global (typeormMetadataArgsStorage), so the
  // copy ferry resolves registers it for the application's own (test/typeorm/typeorm-0.3.test.ts).
  EventSubscriber()(FerryDualWriteSubscriber);
  return FerryDualWriteSubscriber;
}
