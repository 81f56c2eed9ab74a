"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import { runAction } from "@/app/_server/action";
import { serverRuntime } from "@/app/_server/runtime";
import { saveGatewaySettings } from "@/lib/settings";

const GatewayForm = z.object({
  llmGatewayUrl: z.url({ protocol: /^https?$/, error: "enter the gateway's base URL, e.g. http://127.0.0.1:4000/v1" }),
  llmApiKey: z.string().max(4096).optional(),
});

export async function saveGateway(form: { llmGatewayUrl: string; llmApiKey?: string }) {
  return runAction("saveGateway", async () => {
    const parsed = GatewayForm.parse(form);
    const { db } = await serverRuntime();
    await saveGatewaySettings(db, { llmGatewayUrl: parsed.llmGatewayUrl, llmApiKey: parsed.llmApiKey || undefined });
    revalidatePath("/settings");
    return {};
  });
}
