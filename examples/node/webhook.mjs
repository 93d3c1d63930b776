// A portal's webhook receiver with Node's standard library only: verifies moderato's signature, refuses replays
// outside a 5-minute window, acknowledges each event id once. The same as examples/php/webhook.php.
//
//   MODERATO_WEBHOOK_SECRET=<secret from `moderato webhook set`> node examples/node/webhook.mjs 127.0.0.1:8099
//
// Every verified event is appended to MODERATO_WEBHOOK_LOG (default: webhook-events.jsonl in the temp dir) as
// one JSON line; a repeated event id is acknowledged and not applied twice (delivery is at least once).

import { createHmac, timingSafeEqual } from "node:crypto";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * True when `signatureHeader` ("v1=<hex>" or, during a secret rotation, "v1=<hex>, v1=<hex>") holds
 * hex(HMAC-SHA256(secret, timestamp + "." + body)) and `timestamp` is within `toleranceSeconds` of `now`.
 * `body` is the raw request body (a Buffer): verify before parsing it.
 */
export function verifyWebhook(secret, timestamp, signatureHeader, body, now, toleranceSeconds = 300) {
  if (!/^[0-9]+$/.test(timestamp) || Math.abs(now - Number(timestamp)) > toleranceSeconds) {
    return false; // a replay, or a clock far off
  }
  const expected = createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest();
  return signatureHeader.split(",").some((part) => {
    part = part.trim();
    if (!part.startsWith("v1=")) return false;
    const given = Buffer.from(part.slice(3), "hex");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

const [host, port] = (process.argv[2] || "127.0.0.1:8099").split(":");
const secret = process.env.MODERATO_WEBHOOK_SECRET || "";
const log = process.env.MODERATO_WEBHOOK_LOG || join(tmpdir(), "webhook-events.jsonl");
if (!secret) {
  console.error("set MODERATO_WEBHOOK_SECRET to the secret `moderato webhook set` printed");
  process.exit(2);
}

createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const ok =
      req.method === "POST" &&
      verifyWebhook(
        secret,
        req.headers["moderato-timestamp"] || "",
        req.headers["moderato-signature"] || "",
        body,
        Math.floor(Date.now() / 1000),
      );
    if (!ok) {
      res.writeHead(400, { "Content-Type": "text/plain" }).end("bad signature\n");
      return;
    }
    const event = JSON.parse(body.toString("utf8"));
    const seen = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
    if (!seen.some((line) => JSON.parse(line).id === event.id)) {
      // Apply the decision here: publish, hide or delete the comment event.event.commentId.
      const row = { id: event.id, commentId: event.event.commentId, status: event.event.status };
      appendFileSync(log, JSON.stringify(row) + "\n");
    }
    res.writeHead(204).end();
  });
}).listen(Number(port), host, () => console.log(`listening on http://${host}:${port}/`));
