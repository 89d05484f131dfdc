/**
 * Starting the tensor backend. WebAssembly (XNNPACK) is about 4x faster than the pure
 * JavaScript cpu backend here; its .wasm files are loaded from the installed package
 * so training works offline. If wasm cannot start, the cpu backend is imported then
 * (and only then: loading it costs tens of milliseconds of every launch) and runs
 * instead; the caller reports which one ran.
 */
import { createRequire } from "node:module"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm"
import * as Effect from "effect/Effect"
import { TensorBackendUnavailable } from "./Errors.js"

/** A backend the trainer can run on. */
export type BackendName = "wasm" | "cpu"

const wasmDistDir = (): string => {
  const require = createRequire(import.meta.url)
  return `${path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json"))}${path.sep}dist${path.sep}`
}

const trySet = (name: BackendName): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    try {
      return await tf.setBackend(name)
    } catch {
      return false
    }
  })

/** Register the cpu backend (importing the package registers it); false when it cannot be loaded. */
const loadCpu: Effect.Effect<boolean> = Effect.promise(() =>
  import("@tensorflow/tfjs-backend-cpu").then(
    () => true,
    () => false
  )
)

/**
 * Make `preferred` the active backend (falling back from wasm to cpu), with tfjs in
 * production mode (no per-op NaN checks, no console banners). Succeeds with the
 * backend that is active; `TensorBackendUnavailable` when none can start.
 */
export const initBackend = (preferred: BackendName): Effect.Effect<BackendName, TensorBackendUnavailable> =>
  Effect.gen(function*() {
    tf.enableProdMode()
    if (preferred === "wasm") {
      setWasmPaths(wasmDistDir())
      if (yield* trySet("wasm")) return "wasm"
    }
    if ((yield* loadCpu) && (yield* trySet("cpu"))) return "cpu"
    return yield* new TensorBackendUnavailable({ message: "no tensor backend could start (wasm and cpu both failed)" })
  })
