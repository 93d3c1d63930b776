<?php
// A portal's webhook receiver in plain PHP: verifies moderato's signature, refuses replays outside a 5-minute
// window, acknowledges each event id once.
//
//   MODERATO_WEBHOOK_SECRET=<secret from `moderato webhook set`> php -S 127.0.0.1:8099 examples/php/webhook.php
//
// Every verified event is appended to MODERATO_WEBHOOK_LOG (default: webhook-events.jsonl in the temp dir) as
// one JSON line; a repeated event id is acknowledged and not applied twice (delivery is at least once).

declare(strict_types=1);

/**
 * True when $signatureHeader ("v1=<hex>" or, during a secret rotation, "v1=<hex>, v1=<hex>") holds
 * hex(HMAC-SHA256($secret, $timestamp . "." . $body)) and $timestamp is within $toleranceSeconds of $now.
 */
function moderato_verify_webhook(
    string $secret,
    string $timestamp,
    string $signatureHeader,
    string $body,
    int $now,
    int $toleranceSeconds = 300
): bool {
    if (!ctype_digit($timestamp) || abs($now - (int) $timestamp) > $toleranceSeconds) {
        return false; // a replay, or a clock far off
    }
    $expected = hash_hmac('sha256', $timestamp . '.' . $body, $secret);
    foreach (explode(',', $signatureHeader) as $part) {
        $part = trim($part);
        if (str_starts_with($part, 'v1=') && hash_equals($expected, substr($part, 3))) {
            return true;
        }
    }
    return false;
}

if (PHP_SAPI !== 'cli-server') {
    fwrite(STDERR, "run me with: php -S 127.0.0.1:8099 " . __FILE__ . "\n");
    exit(2);
}

$secret = getenv('MODERATO_WEBHOOK_SECRET') ?: '';
$log = getenv('MODERATO_WEBHOOK_LOG') ?: sys_get_temp_dir() . '/webhook-events.jsonl';
$body = file_get_contents('php://input');
$ok = $_SERVER['REQUEST_METHOD'] === 'POST' && $secret !== '' && moderato_verify_webhook(
    $secret,
    $_SERVER['HTTP_MODERATO_TIMESTAMP'] ?? '',
    $_SERVER['HTTP_MODERATO_SIGNATURE'] ?? '',
    $body,
    time()
);
if (!$ok) {
    http_response_code(400);
    echo "bad signature\n";
    return;
}
$event = json_decode($body, true);
$seen = is_file($log) ? file($log, FILE_IGNORE_NEW_LINES) : [];
$ids = array_map(fn ($l) => json_decode($l, true)['id'] ?? '', $seen);
if (!in_array($event['id'], $ids, true)) {
    // Apply the decision here: publish, hide or delete the comment $event['event']['commentId'].
    file_put_contents($log, json_encode([
        'id' => $event['id'],
        'commentId' => $event['event']['commentId'],
        'status' => $event['event']['status'],
    ]) . "\n", FILE_APPEND | LOCK_EX);
}
http_response_code(204);
