import "server-only";
import { refusal } from "@/lib/engine/errors";
import { MAX_HOOK_BODY_BYTES } from "@/lib/webhooks/http";

const tooLarge = (maxBytes: number) => {
  const { status, body } = refusal("PAYLOAD_TOO_LARGE", `the body is larger than ${maxBytes} bytes`);
  return Response.json(body, { status });
};

/**
 * A request body as text, or the 413 answer when it is larger than `maxBytes` (default 1 MB, the webhook cap).
 * Webhook routes are public and read the body before authenticating (a signature covers it), so the cap holds
 * while reading: a declared length over it is refused unread, and a chunked body stops being read at the first
 * byte over it.
 */
export async function readLimitedBody(request: Request, maxBytes: number = MAX_HOOK_BODY_BYTES): Promise<{ text: string } | { tooLarge: Response }> {
  if (Number(request.headers.get("content-length") ?? 0) > maxBytes) return { tooLarge: tooLarge(maxBytes) };
  if (!request.body) return { text: "" };
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return { tooLarge: tooLarge(maxBytes) };
    }
    chunks.push(value);
  }
  return { text: Buffer.concat(chunks).toString("utf8") };
}
