/**
 * SPEC §11's commitment hash computed independently of the code under test: the
 * report's bytes are laid out by hand here and hashed with `@noble/hashes`.
 */
import { keccak_256 } from "@noble/hashes/sha3.js"
import { bytesToHex } from "@noble/hashes/utils.js"

export const ascii = (text: string): Array<number> => Array.from(text, (c) => c.charCodeAt(0))

/** The domain tag every commitment starts with. */
export const TAG = ascii("autoresearch.attestation.v1")

/** Keccak-256 (hex) of bytes laid out by a test. */
export const keccakHex = (bytes: ReadonlyArray<number>): string => bytesToHex(keccak_256(Uint8Array.from(bytes)))

/** The local referee's report (16 shards, tee None, no nonce), laid out byte by byte. */
export const localRefereeHash = keccakHex([
  ...TAG,
  0x00,
  29, 0, 0, 0, 0, 0, 0, 0,
  ...ascii("local-referee:sim-held-out:16"),
  25, 0, 0, 0, 0, 0, 0, 0,
  ...ascii("local-stand-in:no-enclave"),
  0x00
])
