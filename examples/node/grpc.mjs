// A portal backend calling moderato over gRPC with @grpc/grpc-js, the protos loaded from proto/ at run time.
//
//   npm ci --prefix examples/node
//   MODERATO_ADDR=127.0.0.1:50051 MODERATO_TOKEN=<portal token> node examples/node/grpc.mjs [out-dir]
//
// The same flow as examples/python/portal.py: a captcha challenge and its image, a submission with the reader's
// answer, each kind of error (a bad field, a wrong captcha, a rate limit with RetryInfo) read from the
// google.rpc.Status details in the `grpc-status-details-bin` trailer, and the site's decisions from the
// WatchDecisions stream. The answer is read from the terminal; a server started with captcha.test_answer_header
// (tests only) hands it out in the response headers so the script can run unattended.

import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline/promises";
import { fileURLToPath } from "node:url";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";

const addr = process.env.MODERATO_ADDR || "127.0.0.1:50051";
const token = process.env.MODERATO_TOKEN || "";
const site = process.env.MODERATO_SITE || "hcm";
const out = process.argv[2] || tmpdir();
if (!token) {
  console.error("set MODERATO_TOKEN to a portal token");
  process.exit(2);
}

const protoDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "proto");
const definition = protoLoader.loadSync(["moderato/v1/captcha.proto", "moderato/v1/comment.proto"], {
  includeDirs: [protoDir],
  keepCase: true,
  enums: String,
  longs: String,
  defaults: true,
});
const v1 = grpc.loadPackageDefinition(definition).moderato.v1;
const captchas = new v1.CaptchaService(addr, grpc.credentials.createInsecure());
const comments = new v1.CommentService(addr, grpc.credentials.createInsecure());

// The error details moderato sends, from google/rpc/status.proto and error_details.proto (the fields used here).
const rpc = protobuf.parse(`
  syntax = "proto3";
  package google.rpc;
  message Any { string type_url = 1; bytes value = 2; }
  message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
  message Duration { int64 seconds = 1; int32 nanos = 2; }
  message RetryInfo { Duration retry_delay = 1; }
  message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
  message QuotaFailure { message Violation { string subject = 1; string description = 2; } repeated Violation violations = 1; }
  message BadRequest {
    message FieldViolation { string field = 1; string description = 2; }
    repeated FieldViolation field_violations = 1;
  }
`, { keepCase: true }).root;

function metadata() {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  return md;
}

const deadline = (secs) => ({ deadline: new Date(Date.now() + secs * 1000) });

/** The google.rpc details of a failed call, by kind. */
function details(err) {
  const raw = err.metadata?.get("grpc-status-details-bin")?.[0];
  const found = {};
  if (!raw) return found;
  const status = rpc.lookupType("google.rpc.Status").decode(raw);
  for (const any of status.details) {
    const kind = any.type_url.replace("type.googleapis.com/google.rpc.", "");
    if (["BadRequest", "ErrorInfo", "RetryInfo", "QuotaFailure"].includes(kind)) {
      found[kind] = rpc.lookupType(`google.rpc.${kind}`).decode(any.value);
    }
  }
  return found;
}

/** What the portal does with a failed call; returns one line for the log. */
function explain(err) {
  const d = details(err);
  if (d.BadRequest) {
    // Show each message next to its form field.
    return "fix the form: " + d.BadRequest.field_violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  }
  if (d.ErrorInfo && d.ErrorInfo.reason.startsWith("CAPTCHA_")) {
    return `captcha refused (${d.ErrorInfo.reason}): show a new challenge`;
  }
  if (err.code === grpc.status.RESOURCE_EXHAUSTED) {
    const secs = d.RetryInfo ? String(d.RetryInfo.retry_delay.seconds) : "?";
    const limits = (d.QuotaFailure?.violations || []).map((v) => v.subject);
    return `rate limited: retry after ${secs} s (${limits.join(", ")})`;
  }
  if (err.code === grpc.status.UNAVAILABLE) return "moderato is unavailable: retry the same request later";
  return `error ${grpc.status[err.code]}: ${err.details}`;
}

/** A unary call as a promise of [response, response headers]. */
function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    const call = client[method](request, metadata(), deadline(30), (err, resp) =>
      err ? reject(err) : resolve([resp, headers]),
    );
    call.on("metadata", (md) => {
      headers = md;
    });
  });
}

async function challenge() {
  const [c, headers] = await unary(captchas, "CreateChallenge", { site, client_ip: "203.0.113.7" });
  const answer = headers.get("x-moderato-test-captcha-answer")[0];
  return [c, answer === undefined ? null : String(answer)];
}

function submit(c, answer, title) {
  return unary(comments, "SubmitComment", {
    site,
    thread_id: "bai-viet-42",
    idempotency_key: randomBytes(16).toString("hex"),
    author: { name: "Trần Thị Mai", phone: "0912345678" },
    title,
    body: "Đoạn đường Nguyễn Hữu Thọ ngập sâu mỗi khi mưa lớn, mong phường sớm khơi thông cống thoát nước.",
    client: { ip: "203.0.113.7", user_agent: "Mozilla/5.0" },
    captcha: { challenge_id: c.challenge_id, answer },
  }).then(([resp]) => resp);
}

async function main() {
  // 1. A challenge for the form, and its image.
  let [c, answer] = await challenge();
  const path = join(out, "captcha.png");
  writeFileSync(path, c.image_png);
  console.log(`challenge ${c.challenge_id} (${c.answer_length} characters), image saved to ${path}`);
  console.log("image route: not on gRPC, the image came with the challenge");
  if (answer === null) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    answer = (await rl.question("Mã xác nhận (see the image): ")).trim();
    rl.close();
  }

  // 2. The comment, with the reader's answer.
  let r;
  try {
    r = await submit(c, answer, "Góp ý");
  } catch (e) {
    console.error(explain(e));
    return 1;
  }
  console.log(`submitted ${r.comment_id}: ${r.status} (score ${r.score.toFixed(3)})`);

  // 3. A bad field, 4. a wrong captcha answer.
  for (const [title, wrong] of [["", false], ["Góp ý", true]]) {
    [c, answer] = await challenge();
    try {
      await submit(c, wrong ? "sai-ma" : answer || "", title);
    } catch (e) {
      console.log(explain(e));
    }
  }

  // 5. Too many comments from one reader: RESOURCE_EXHAUSTED with RetryInfo.
  for (let i = 0; i < 30; i++) {
    try {
      [c, answer] = await challenge();
      await submit(c, answer || "", `Góp ý ${i}`);
    } catch (e) {
      console.log(explain(e));
      break;
    }
  }

  // 6. Decisions: the stream from the last cursor stored (empty: from the start), read for a few seconds.
  let cursor = "";
  const stream = comments.WatchDecisions({ site, after_cursor: cursor }, metadata(), deadline(3));
  try {
    for await (const e of stream) {
      console.log(`decision ${e.comment_id}: ${e.status} (${e.kind})`);
      cursor = e.cursor;
    }
  } catch (e) {
    if (e.code !== grpc.status.DEADLINE_EXCEEDED) {
      console.error(explain(e));
      return 1;
    }
  }
  console.log(`next cursor ${cursor}`);
  return 0;
}

const code = await main();
captchas.close();
comments.close();
process.exit(code);
