// A portal backend talking to moderato's JSON over HTTP with Node's built-in fetch (Node 18 or later).
//
//   MODERATO_HTTP=http://127.0.0.1:8080 MODERATO_TOKEN=<portal token> node examples/node/portal.mjs [out-dir]
//
// The same flow as examples/php/portal.php: a captcha challenge and its image, a submission with the reader's
// answer, each kind of error (a bad field, a wrong captcha, a rate limit with Retry-After), and the site's
// decisions by long-poll. The answer is read from the terminal; a server started with captcha.test_answer_header
// (tests only) hands it out so the script can run unattended.

import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline/promises";

const base = (process.env.MODERATO_HTTP || "http://127.0.0.1:8080").replace(/\/$/, "");
const token = process.env.MODERATO_TOKEN || "";
const site = process.env.MODERATO_SITE || "hcm";
const out = process.argv[2] || tmpdir();
if (!token) {
  console.error("set MODERATO_TOKEN to a portal token");
  process.exit(2);
}

/** One call: { code, headers, body } with body decoded from JSON when it is JSON. */
async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (e) {
    console.error(`cannot reach moderato at ${base}: ${e.message}`);
    process.exit(1);
  }
  const isJson = (resp.headers.get("content-type") || "").startsWith("application/json");
  const data = isJson ? await resp.json() : Buffer.from(await resp.arrayBuffer());
  return { code: resp.status, headers: resp.headers, body: data };
}

/** What the portal does with a google.rpc.Status answer; returns one line for the log. */
function explain({ code, headers, body }) {
  const details = {};
  for (const d of body.details || []) {
    details[d["@type"].replace("type.googleapis.com/google.rpc.", "")] = d;
  }
  if (details.BadRequest) {
    // Show each message next to its form field.
    const fields = details.BadRequest.fieldViolations.map((v) => `${v.field}: ${v.description}`);
    return `fix the form: ${fields.join("; ")}`;
  }
  if (details.ErrorInfo && details.ErrorInfo.reason.startsWith("CAPTCHA_")) {
    return `captcha refused (${details.ErrorInfo.reason}): show a new challenge`;
  }
  if (code === 429) {
    const limits = (details.QuotaFailure?.violations || []).map((v) => v.subject);
    return `rate limited: retry after ${headers.get("retry-after")} s (${limits.join(", ")})`;
  }
  if (code === 503) return "moderato is unavailable: retry the same request later";
  return `error ${code}: ${body.message}`;
}

async function challenge() {
  const r = await call("POST", `/v1/sites/${site}/captcha-challenges`, { clientIp: "203.0.113.7" });
  if (r.code !== 200) return [null, explain(r)];
  return [
    {
      ...r.body,
      answer: r.headers.get("x-moderato-test-captcha-answer"),
      location: r.headers.get("location"),
    },
    null,
  ];
}

function comment(c, answer, title) {
  return {
    threadId: "bai-viet-42",
    idempotencyKey: randomBytes(16).toString("hex"),
    author: { name: "Trần Thị Mai", phone: "0912345678" },
    title,
    body: "Đoạn đường Nguyễn Hữu Thọ ngập sâu mỗi khi mưa lớn, mong phường sớm khơi thông cống thoát nước.",
    client: { ip: "203.0.113.7", userAgent: "Mozilla/5.0" },
    captcha: { challengeId: c.challengeId, answer },
  };
}

// 1. A challenge for the form, and its image.
let [c, err] = await challenge();
if (!c) {
  console.error(err);
  process.exit(1);
}
const png = Buffer.from(c.imagePng, "base64");
writeFileSync(`${out}/captcha.png`, png);
console.log(`challenge ${c.challengeId} (${c.answerLength} characters), image saved to ${out}/captcha.png`);
const img = await call("GET", c.location);
console.log(`image route: ${img.code === 200 && png.equals(img.body) ? "the same image" : `HTTP ${img.code}`}`);
let answer = c.answer;
if (answer === null) {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  answer = (await rl.question("Mã xác nhận (see the image): ")).trim();
  rl.close();
}

// 2. The comment, with the reader's answer.
let r = await call("POST", `/v1/sites/${site}/comments`, comment(c, answer, "Góp ý"));
if (r.code !== 200) {
  console.error(explain(r));
  process.exit(1);
}
console.log(`submitted ${r.body.commentId}: ${r.body.status} (score ${(r.body.score || 0).toFixed(3)})`);

// 3. A bad field: the title is required.
[c] = await challenge();
console.log(explain(await call("POST", `/v1/sites/${site}/comments`, comment(c, c.answer || "", ""))));

// 4. A wrong captcha answer.
[c] = await challenge();
console.log(explain(await call("POST", `/v1/sites/${site}/comments`, comment(c, "sai-ma", "Góp ý"))));

// 5. Too many comments from one reader: 429 with Retry-After.
for (let i = 0; i < 30; i++) {
  [c, err] = await challenge();
  if (!c) {
    console.log(err);
    break;
  }
  r = await call("POST", `/v1/sites/${site}/comments`, comment(c, c.answer || "", `Góp ý ${i}`));
  if (r.code !== 200) {
    console.log(explain(r));
    break;
  }
}

// 6. Decisions: long-poll from the last cursor stored (empty: from the start).
const cursor = "";
r = await call("GET", `/v1/sites/${site}/decisions?after=${cursor}&timeout=5`);
if (r.code !== 200) {
  console.error(explain(r));
  process.exit(1);
}
for (const e of r.body.events || []) {
  console.log(`decision ${e.commentId}: ${e.status} (${e.kind})`);
}
console.log(`next cursor ${r.body.nextCursor}`);
