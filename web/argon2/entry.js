// The entry point of intake/static/argon2id.min.js: Argon2id from
// @noble/hashes, nothing else, as the global testimonyArgon2 (in a browser
// and, once the file is required, under Node for web/test).
import { argon2id, argon2idAsync } from '@noble/hashes/argon2.js';

globalThis.testimonyArgon2 = { argon2id, argon2idAsync };
