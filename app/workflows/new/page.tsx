import { Editor } from "@/components/canvas/Editor";
import { newWorkflowId } from "@/lib/workflows/repository";

export const dynamic = "force-dynamic";

export default function NewWorkflowPage() {
  const id = newWorkflowId();
  return <Editor init={{ definition: { id, name: "Untitled workflow", schemaVersion: 1, steps: [], edges: [] }, savedVersion: null, isNew: true }} versions={[]} />;
}
