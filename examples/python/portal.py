"""A portal backend calling moderato over gRPC with grpcio and stubs generated from proto/.

    pip install grpcio grpcio-tools grpcio-status
    python3 -m grpc_tools.protoc -Iproto --python_out=gen --grpc_python_out=gen proto/moderato/v1/*.proto
    PYTHONPATH=gen MODERATO_ADDR=127.0.0.1:50051 MODERATO_TOKEN=<portal token> python3 examples/python/portal.py [out-dir]

The same flow as examples/php/portal.php: a captcha challenge and its image, a submission with the reader's answer,
each kind of error (a bad field, a wrong captcha, a rate limit with RetryInfo) read from the google.rpc details,
and the site's decisions from the WatchDecisions stream. The answer is read from the terminal; a server started
with captcha.test_answer_header (tests only) hands it out so the script can run unattended.
"""

import os
import secrets
import sys
import tempfile

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from moderato.v1 import captcha_pb2, captcha_pb2_grpc, comment_pb2, comment_pb2_grpc, common_pb2

ADDR = os.environ.get("MODERATO_ADDR", "127.0.0.1:50051")
TOKEN = os.environ.get("MODERATO_TOKEN", "")
SITE = os.environ.get("MODERATO_SITE", "hcm")
OUT = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
AUTH = (("authorization", f"Bearer {TOKEN}"),)


def explain(err: grpc.RpcError) -> str:
    """What the portal does with a failed call; returns one line for the log."""
    status = rpc_status.from_call(err)
    details = {}
    for any_detail in status.details if status else []:
        for kind in ("BadRequest", "ErrorInfo", "RetryInfo", "QuotaFailure"):
            msg = getattr(error_details_pb2, kind)()
            if any_detail.Is(msg.DESCRIPTOR):
                any_detail.Unpack(msg)
                details[kind] = msg
    if "BadRequest" in details:
        fields = [f"{v.field}: {v.description}" for v in details["BadRequest"].field_violations]
        return "fix the form: " + "; ".join(fields)
    if "ErrorInfo" in details and details["ErrorInfo"].reason.startswith("CAPTCHA_"):
        return f"captcha refused ({details['ErrorInfo'].reason}): show a new challenge"
    if err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        secs = details["RetryInfo"].retry_delay.seconds if "RetryInfo" in details else "?"
        limits = [v.subject for v in details["QuotaFailure"].violations] if "QuotaFailure" in details else []
        return f"rate limited: retry after {secs} s ({', '.join(limits)})"
    if err.code() == grpc.StatusCode.UNAVAILABLE:
        return "moderato is unavailable: retry the same request later"
    return f"error {err.code().name}: {err.details()}"


def main() -> int:
    if not TOKEN:
        print("set MODERATO_TOKEN to a portal token", file=sys.stderr)
        return 2
    channel = grpc.insecure_channel(ADDR)
    captchas = captcha_pb2_grpc.CaptchaServiceStub(channel)
    comments = comment_pb2_grpc.CommentServiceStub(channel)

    def challenge():
        resp, call = captchas.CreateChallenge.with_call(
            captcha_pb2.CreateChallengeRequest(site=SITE, client_ip="203.0.113.7"), metadata=AUTH, timeout=30
        )
        answer = dict(call.initial_metadata()).get("x-moderato-test-captcha-answer")
        return resp, answer

    def submit(c, answer, title):
        return comments.SubmitComment(
            comment_pb2.SubmitCommentRequest(
                site=SITE,
                thread_id="bai-viet-42",
                idempotency_key=secrets.token_hex(16),
                author=common_pb2.Author(name="Trần Thị Mai", phone="0912345678"),
                title=title,
                body="Đoạn đường Nguyễn Hữu Thọ ngập sâu mỗi khi mưa lớn, mong phường sớm khơi thông cống thoát nước.",
                client=common_pb2.Client(ip="203.0.113.7", user_agent="Mozilla/5.0"),
                captcha=comment_pb2.CaptchaAnswer(challenge_id=c.challenge_id, answer=answer),
            ),
            metadata=AUTH,
            timeout=30,
        )

    # 1. A challenge for the form, and its image.
    c, answer = challenge()
    path = os.path.join(OUT, "captcha.png")
    with open(path, "wb") as f:
        f.write(c.image_png)
    print(f"challenge {c.challenge_id} ({c.answer_length} characters), image saved to {path}")
    print("image route: not on gRPC, the image came with the challenge")
    if answer is None:
        answer = input("Mã xác nhận (see the image): ").strip()

    # 2. The comment, with the reader's answer.
    try:
        r = submit(c, answer, "Góp ý")
    except grpc.RpcError as e:
        print(explain(e), file=sys.stderr)
        return 1
    status = common_pb2.CommentStatus.Name(r.status)
    print(f"submitted {r.comment_id}: {status} (score {r.score:.3f})")

    # 3. A bad field, 4. a wrong captcha answer.
    for title, wrong in (("", False), ("Góp ý", True)):
        c, answer = challenge()
        try:
            submit(c, "sai-ma" if wrong else answer or "", title)
        except grpc.RpcError as e:
            print(explain(e))

    # 5. Too many comments from one reader: RESOURCE_EXHAUSTED with RetryInfo.
    for i in range(30):
        try:
            c, answer = challenge()
            submit(c, answer or "", f"Góp ý {i}")
        except grpc.RpcError as e:
            print(explain(e))
            break

    # 6. Decisions: the stream from the last cursor stored (empty: from the start), read for a few seconds.
    cursor = ""
    stream = comments.WatchDecisions(
        comment_pb2.WatchDecisionsRequest(site=SITE, after_cursor=cursor), metadata=AUTH, timeout=3
    )
    try:
        for e in stream:
            status = common_pb2.CommentStatus.Name(e.status)
            kind = common_pb2.DecisionKind.Name(e.kind)
            print(f"decision {e.comment_id}: {status} ({kind})")
            cursor = e.cursor
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            print(explain(e), file=sys.stderr)
            return 1
    print(f"next cursor {cursor}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
