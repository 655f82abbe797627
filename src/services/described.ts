/**
 * A capability that describes itself: `Introspect` calls are answered from a SchemaSet,
 * every other call goes to the capability. What the service library wraps each offered
 * capability in, so that `capns call`, the HTTP gateway and the web page can call it
 * without being told its schema.
 */
import type { Call, Client, Struct } from 'capnp-es';
import { INTROSPECT_INTERFACE_ID, type SchemaSet } from '../reflect/index.js';
import { CapHandle, RefHook, type Answer } from '../rpc/cap.js';

class DescribedHook extends RefHook {
  #inner: Client | null;
  readonly #introspect: Client;

  constructor(inner: Client, introspect: Client) {
    super();
    this.#inner = inner;
    this.#introspect = introspect;
  }

  call(call: Call<Struct, Struct>): Answer<Struct> {
    const target = call.method.interfaceId === INTROSPECT_INTERFACE_ID ? this.#introspect : this.#inner;
    // A released hook is never called (its handles are closed); the check keeps it so.
    return (target ?? this.#introspect).call(call);
  }

  protected dispose(): void {
    const inner = this.#inner;
    this.#inner = null;
    try {
      inner?.close();
    } catch {
      // Disposers never throw.
    }
    this.#introspect.close();
  }
}

/**
 * `cap` (a Client; ownership taken) answering `Introspect` as a capability of
 * `interfaceId` whose schema `schemas` holds. Returns a Client the caller owns;
 * releasing it releases `cap`.
 */
export function described(cap: Client, interfaceId: bigint, schemas: SchemaSet): Client {
  return new CapHandle(new DescribedHook(cap, schemas.introspect(interfaceId).client));
}
