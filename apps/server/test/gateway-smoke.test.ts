import { it, expect } from "vitest";
import { startTestApp } from "./harness.js";
import { createKey, keyRow } from "./gateway-helpers.js";
it("smoke", async () => {
  const t = await startTestApp();
  const k = await createKey(t.db);
  const r = await t.app.inject({ url: "/api/v1/iocs?x=1", headers: { authorization: `Bearer ${k.key}` } });
  console.log(r.statusCode, r.headers, r.body);
  const r2 = await t.app.inject({ url: "/api/v1/iocs/stix", headers: { "x-api-key": k.key } });
  console.log(r2.statusCode, r2.body);
  const r3 = await t.app.inject({ url: "/api/v1/iocs" });
  console.log(r3.statusCode, r3.headers["www-authenticate"], r3.body);
  await t.app.gateway.usage.flush();
  console.log(await keyRow(t.db, k.id));
  console.log((await t.db.execute("select * from usage_days" as never)));
  await t.close();
});
