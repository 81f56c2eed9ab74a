import { redirect } from "next/navigation";
import { newWorkflowId } from "@/lib/workflows/repository";

export const dynamic = "force-dynamic";

/** A new workflow lives at its final URL from the start, so saving it never remounts the editor. */
export default function NewWorkflowPage() {
  redirect(`/workflows/${newWorkflowId()}`);
}
