/**
 * The placeholder for an effect a machine names in `setup({ actors })`: machines/ stay pure (no
 * import reaches actors/ code that does I/O), supervisor/children.ts provides the real actor with
 * `.provide({ actors })` and tests provide fakes. Started unprovided, it fails at once, naming itself.
 *
 * @example
 * import type { publishHw } from '../actors/inventory/publish-hw.js';
 * setup({ actors: { publishHw: notProvided<typeof publishHw>('publishHw') } });
 */
import { fromPromise, type AnyActorLogic } from 'xstate';

/** A stand-in typed as the real effect `T` (a type-only import), failing when started. */
export function notProvided<T extends AnyActorLogic>(name: string): T {
  return fromPromise(() =>
    Promise.reject(new Error(`effect ${name} is not provided (supervisor/children.ts provides it; tests use .provide())`)),
  ) as unknown as T;
}
