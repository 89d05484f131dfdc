#!/usr/bin/env node
// The `trainmarket` command: the built CLI (dist/bin.js), or how to build it.
import { launch } from "./launch.mjs"

await launch("trainmarket", "bin.js")
