/** Single-quoted for a POSIX shell (a quote inside becomes '\''). */
const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/**
 * A shell snippet that sends one signed trigger request with curl and openssl (the editor's webhook panel shows it
 * with the real URL and secret): the signature is the HMAC-SHA256 of "<timestamp>.<body>", sent with the same
 * timestamp. Each run of it signs anew, so it is never refused as a replay.
 */
export function signedCurlExample(url: string, secret: string, body = "{}") {
  return [
    `SECRET=${shellQuote(secret)}`,
    `body=${shellQuote(body)}; ts=$(date +%s)`,
    `sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$SECRET" -hex | sed 's/^.* //')`,
    `curl -sS -X POST -H 'content-type: application/json' -H "X-Orchestrator-Timestamp: $ts" -H "X-Orchestrator-Signature: sha256=$sig" -d "$body" ${shellQuote(url)}`,
  ].join("\n");
}
