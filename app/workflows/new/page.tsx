import { redirect } from "next/navigation";
import { pageContext } from "@/app/_server/runtime";
import { newWorkflowId } from "@/lib/workflows/repository";

export const dynamic = "force-dynamic";

/** A new workflow lives at its final URL from the start, so saving it never remounts the editor. */
export default async function NewWorkflowPage() {
  await pageContext("/workflows/new", "editor");
  redirect(`/workflows/${newWorkflowId()}`);
}
