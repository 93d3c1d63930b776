<?php
// A portal backend talking to moderato's JSON over HTTP with nothing but php-curl.
//
//   MODERATO_HTTP=http://127.0.0.1:8080 MODERATO_TOKEN=<portal token> php examples/php/portal.php [out-dir]
//
// It creates a captcha challenge and saves its image, submits a comment with the reader's answer, shows how each
// kind of error is handled (a bad field, a wrong captcha, a rate limit with Retry-After), and reads the site's
// decisions by long-poll. The answer is read from the terminal; a server started with
// captcha.test_answer_header (tests only) hands it out so the script can run unattended.

declare(strict_types=1);

$base = rtrim(getenv('MODERATO_HTTP') ?: 'http://127.0.0.1:8080', '/');
$token = getenv('MODERATO_TOKEN') ?: '';
$site = getenv('MODERATO_SITE') ?: 'hcm';
$out = $argv[1] ?? sys_get_temp_dir();
if ($token === '') {
    fwrite(STDERR, "set MODERATO_TOKEN to a portal token\n");
    exit(2);
}

/** One call: [HTTP code, lowercase headers, decoded JSON or raw body]. */
function call(string $method, string $path, ?array $body = null): array
{
    global $base, $token;
    $headers = [];
    $ch = curl_init($base . $path);
    $h = ["Authorization: Bearer $token"];
    if ($body !== null) {
        $h[] = 'Content-Type: application/json';
        curl_setopt($ch, CURLOPT_POSTFIELDS, json_encode($body, JSON_UNESCAPED_UNICODE));
    }
    curl_setopt_array($ch, [
        CURLOPT_CUSTOMREQUEST => $method,
        CURLOPT_HTTPHEADER => $h,
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_TIMEOUT => 60,
        CURLOPT_HEADERFUNCTION => function ($ch, string $line) use (&$headers): int {
            $parts = explode(':', $line, 2);
            if (count($parts) === 2) {
                $headers[strtolower(trim($parts[0]))] = trim($parts[1]);
            }
            return strlen($line);
        },
    ]);
    $raw = curl_exec($ch);
    if ($raw === false) {
        fwrite(STDERR, "cannot reach moderato at $base: " . curl_error($ch) . "\n");
        exit(1);
    }
    $code = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
    curl_close($ch);
    $isJson = str_starts_with($headers['content-type'] ?? '', 'application/json');
    return [$code, $headers, $isJson ? json_decode($raw, true) : $raw];
}

/** What the portal does with a google.rpc.Status answer; returns one line for the log. */
function explain(int $code, array $headers, array $status): string
{
    $details = [];
    foreach ($status['details'] ?? [] as $d) {
        $details[substr($d['@type'], strlen('type.googleapis.com/google.rpc.'))] = $d;
    }
    if (isset($details['BadRequest'])) {
        // Show each message next to its form field.
        $fields = array_map(
            fn ($v) => "{$v['field']}: {$v['description']}",
            $details['BadRequest']['fieldViolations']
        );
        return 'fix the form: ' . implode('; ', $fields);
    }
    if (isset($details['ErrorInfo']) && str_starts_with($details['ErrorInfo']['reason'], 'CAPTCHA_')) {
        return "captcha refused ({$details['ErrorInfo']['reason']}): show a new challenge";
    }
    if ($code === 429) {
        $limits = array_map(fn ($v) => $v['subject'], $details['QuotaFailure']['violations'] ?? []);
        return "rate limited: retry after {$headers['retry-after']} s (" . implode(', ', $limits) . ')';
    }
    if ($code === 503) {
        return 'moderato is unavailable: retry the same request later';
    }
    return "error $code: {$status['message']}";
}

function challenge(string $site): array
{
    [$code, $headers, $c] = call('POST', "/v1/sites/$site/captcha-challenges", ['clientIp' => '203.0.113.7']);
    if ($code !== 200) {
        return [null, explain($code, $headers, $c)];
    }
    $c['answer'] = $headers['x-moderato-test-captcha-answer'] ?? null;
    $c['location'] = $headers['location'] ?? null;
    return [$c, null];
}

function comment(array $c, string $answer, string $title): array
{
    return [
        'threadId' => 'bai-viet-42',
        'idempotencyKey' => bin2hex(random_bytes(16)),
        'author' => ['name' => 'Trần Thị Mai', 'phone' => '0912345678'],
        'title' => $title,
        'body' => 'Đoạn đường Nguyễn Hữu Thọ ngập sâu mỗi khi mưa lớn, mong phường sớm khơi thông cống thoát nước.',
        'client' => ['ip' => '203.0.113.7', 'userAgent' => 'Mozilla/5.0'],
        'captcha' => ['challengeId' => $c['challengeId'], 'answer' => $answer],
    ];
}

// 1. A challenge for the form, and its image.
[$c, $err] = challenge($site);
if ($c === null) {
    fwrite(STDERR, "$err\n");
    exit(1);
}
$png = base64_decode($c['imagePng']);
file_put_contents("$out/captcha.png", $png);
echo "challenge {$c['challengeId']} ({$c['answerLength']} characters), image saved to $out/captcha.png\n";
[$code, , $img] = call('GET', $c['location']);
echo 'image route: ' . ($code === 200 && $img === $png ? 'the same image' : "HTTP $code") . "\n";
$answer = $c['answer'];
if ($answer === null) {
    echo 'Mã xác nhận (see the image): ';
    $answer = trim((string) fgets(STDIN));
}

// 2. The comment, with the reader's answer.
[$code, $headers, $r] = call('POST', "/v1/sites/$site/comments", comment($c, $answer, 'Góp ý'));
if ($code !== 200) {
    fwrite(STDERR, explain($code, $headers, $r) . "\n");
    exit(1);
}
echo "submitted {$r['commentId']}: {$r['status']} (score " . round($r['score'] ?? 0, 3) . ")\n";

// 3. A bad field: the title is required.
[$c, ] = challenge($site);
[$code, $headers, $r] = call('POST', "/v1/sites/$site/comments", comment($c, $c['answer'] ?? '', ''));
echo explain($code, $headers, $r) . "\n";

// 4. A wrong captcha answer.
[$c, ] = challenge($site);
[$code, $headers, $r] = call('POST', "/v1/sites/$site/comments", comment($c, 'sai-ma', 'Góp ý'));
echo explain($code, $headers, $r) . "\n";

// 5. Too many comments from one reader: 429 with Retry-After.
for ($i = 0; $i < 30; $i++) {
    [$c, $err] = challenge($site);
    if ($c === null) {
        echo "$err\n";
        break;
    }
    [$code, $headers, $r] = call('POST', "/v1/sites/$site/comments", comment($c, $c['answer'] ?? '', "Góp ý $i"));
    if ($code !== 200) {
        echo explain($code, $headers, $r) . "\n";
        break;
    }
}

// 6. Decisions: long-poll from the last cursor stored (empty: from the start).
$cursor = '';
[$code, $headers, $page] = call('GET', "/v1/sites/$site/decisions?after=$cursor&timeout=5");
if ($code !== 200) {
    fwrite(STDERR, explain($code, $headers, $page) . "\n");
    exit(1);
}
foreach ($page['events'] ?? [] as $e) {
    echo "decision {$e['commentId']}: {$e['status']} ({$e['kind']})\n";
}
echo "next cursor {$page['nextCursor']}\n";
