#!/usr/bin/env node
// The `trainmarket-trainer` command: the built trainer (dist/trainer/bin.js), or how to build it.
import { launch } from "./launch.mjs"

await launch("trainmarket-trainer", "trainer/bin.js")
