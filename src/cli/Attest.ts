/**
 * `trainmarket attest …`: attestation reports (SPEC §11, §14). `report` prints the
 * report a sealed cluster presents, `hash` its Keccak-256 commitment, `verify` its
 * structural verification. Report files are `{"teeType","evidence","measurement","nonce"}`
 * with hex byte fields.
 */
import { Args, Command, Options } from "@effect/cli"
import { TeeType } from "../attestation/AttestationReport.js"
import { describe } from "./Help.js"
import { json, keyFile, lazily, reported, showHelp } from "./Shared.js"

const report = Args.text({ name: "report.json" }).pipe(
  Args.withDescription("an attestation report file: {\"teeType\",\"evidence\",\"measurement\",\"nonce\"} (hex bytes)")
)
const requireTee = Options.choice("require", TeeType.literals).pipe(
  Options.withDescription("the TEE type the report must attest")
)
const cluster = Args.text({ name: "cluster.json" }).pipe(
  Args.withDescription("a sealed cluster spec, inline JSON or a path to a JSON file")
)

const reportConfig = { cluster, keyFile, json }

/** What the `report` handler is given. */
export type ReportOptions = Command.Command.ParseConfig<typeof reportConfig>

/** `attest report`: prints the report file of a sealed cluster. */
export const reportCommand = Command.make(
  "report",
  reportConfig,
  (options) => lazily(() => import("./handlers/Attest.js"), (handler) => handler.report(options))
).pipe(
  Command.withDescription(describe("print the attestation report a sealed cluster presents, as a report file", {
    details: [
      "The cluster is built, not trained: a sealed wrapper presents the stand-in report of SPEC §11, a real backend " +
      "with a `tee` its operator's claim. Neither is a verified enclave."
    ],
    examples: [
      "trainmarket attest report '{\"kind\":\"sealed\",\"inner\":{\"kind\":\"local-sim\"}}' > report.json",
      "trainmarket attest report '{\"kind\":\"cpu-diloco\",\"tee\":\"phala-tdx\"}' > report.json"
    ]
  })),
  reported
)

const hashConfig = { report, json }

/** What the `hash` handler is given. */
export type HashOptions = Command.Command.ParseConfig<typeof hashConfig>

/** `attest hash`: prints `{"hash"}` (Keccak-256, lower-case hex). */
export const hashCommand = Command.make(
  "hash",
  hashConfig,
  (options) => lazily(() => import("./handlers/Attest.js"), (handler) => handler.hash(options))
).pipe(
  Command.withDescription(describe("print the Keccak-256 commitment hash of an attestation report", {
    examples: ["trainmarket attest hash report.json", "trainmarket attest hash report.json --json"]
  })),
  reported
)

const verifyConfig = { report, require: requireTee, json }

/** What the `verify` handler is given. */
export type VerifyOptions = Command.Command.ParseConfig<typeof verifyConfig>

/** `attest verify`: prints `{"verdict","structuralOk","signatureVerified","measurementMatched"}`. */
export const verifyCommand = Command.make(
  "verify",
  verifyConfig,
  (options) => lazily(() => import("./handlers/Attest.js"), (handler) => handler.verify(options))
).pipe(
  Command.withDescription(describe("verify an attestation report's structure against a required TEE type", {
    details: [
      "Only the structure is checked: signature and measurement checks are not implemented, so the verdict is at " +
      "best structurally-valid, never verified. Exits 0 whatever the verdict."
    ],
    examples: ["trainmarket attest verify report.json --require none", "trainmarket attest verify report.json --require phala-tdx --json"]
  })),
  reported
)

/** The `attest` group. */
export const command = Command.make("attest", {}, showHelp).pipe(
  Command.withDescription("attestation reports: make, hash and verify them"),
  Command.withSubcommands([reportCommand, hashCommand, verifyCommand])
)
