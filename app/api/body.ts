import "server-only";
import { MAX_HOOK_BODY_BYTES as MAX_BODY_BYTES, payloadTooLarge } from "@/lib/webhooks/http";

const tooLarge = () => {
  const { status, body } = payloadTooLarge();
  return Response.json(body, { status });
};

/**
 * An inbound webhook body as text, or the 413 answer when it is larger than 1 MB. These routes are public and
 * read the body before authenticating (a signature covers it), so the cap holds while reading: a declared
 * length over it is refused unread, and a chunked body stops being read at the first byte over it.
 */
export async function readLimitedBody(request: Request): Promise<{ text: string } | { tooLarge: Response }> {
  if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) return { tooLarge: tooLarge() };
  if (!request.body) return { text: "" };
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      return { tooLarge: tooLarge() };
    }
    chunks.push(value);
  }
  return { text: Buffer.concat(chunks).toString("utf8") };
}
