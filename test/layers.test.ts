/**
 * The composition root's store naming: what `market serve` prints as its store (on
 * stderr, and in the `--json` start-up line) never carries a PostgreSQL password,
 * whichever way the URL gives it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Layers from "../src/Layers.js"

describe("Layers.storeName", () => {
  it("drops the password of a postgres:// URL, in the authority or as ?password=; a SQLite path is itself", () => {
    for (
      const url of [
        "postgres://market:s3cret@db.example:5432/market",
        "postgresql://market@db.example/market?password=s3cret&sslmode=require",
        "POSTGRES://market:s3cret@db.example/market?password=s3cret"
      ]
    ) {
      const name = Layers.storeName(url)
      assert.notInclude(name, "s3cret", url)
      assert.include(name, "db.example")
      assert.include(name, "market@")
    }
    assert.include(Layers.storeName("postgresql://market@db.example/market?password=x&sslmode=require"), "sslmode=require")
    assert.strictEqual(Layers.storeName("market.sqlite"), "market.sqlite")
    assert.strictEqual(Layers.storeName("/srv/market/market.sqlite"), "/srv/market/market.sqlite")
  })
})
