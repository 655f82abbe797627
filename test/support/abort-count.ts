/**
 * How many AbortControllers `fn` makes, anywhere in this process (our code makes them by
 * the global name, which is swapped for a counting subclass while `fn` runs). Making one
 * is an EventTarget in Node: a served call should make its signal only when something
 * can use it.
 */
export async function abortControllersMadeBy(fn: () => Promise<void>): Promise<number> {
  const Real = globalThis.AbortController;
  let made = 0;
  globalThis.AbortController = class extends Real {
    constructor() {
      super();
      made++;
    }
  };
  try {
    await fn();
  } finally {
    globalThis.AbortController = Real;
  }
  return made;
}
