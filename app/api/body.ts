import "server-only";

const MAX_BODY_BYTES = 1024 * 1024;

/** An inbound webhook body as text, or the 413 answer when it is larger than 1 MB (checked before reading). */
export async function readLimitedBody(request: Request): Promise<{ text: string } | { tooLarge: Response }> {
  const declared = Number(request.headers.get("content-length") ?? 0);
  const text = declared > MAX_BODY_BYTES ? null : await request.text();
  if (text === null || Buffer.byteLength(text) > MAX_BODY_BYTES)
    return { tooLarge: Response.json({ error: { code: "PAYLOAD_TOO_LARGE", message: `the body is larger than ${MAX_BODY_BYTES} bytes` } }, { status: 413 }) };
  return { text };
}
