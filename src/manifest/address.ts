/** The manifest's addresses are the project's one address syntax (src/address.ts). */
export * from '../address.js';
