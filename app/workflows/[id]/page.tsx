import { notFound } from "next/navigation";
import { serverRuntime } from "@/app/_server/runtime";
import { Editor } from "@/components/canvas/Editor";
import { getWorkflow } from "@/lib/workflows/repository";

export const dynamic = "force-dynamic";

export default async function WorkflowPage({ params, searchParams }: { params: Promise<{ id: string }>; searchParams: Promise<{ version?: string }> }) {
  const { id } = await params;
  const { version } = await searchParams;
  const { db, userId } = await serverRuntime();
  const workflow = await getWorkflow(db, userId, id, version ? Number(version) : undefined);
  if (!workflow) notFound();
  return (
    <Editor
      key={`${workflow.id}@${version ?? "latest"}`}
      init={{ definition: workflow.definition, savedVersion: workflow.version }}
      versions={workflow.versions.map((v) => ({ version: v.version, createdAt: v.createdAt.toISOString() }))}
    />
  );
}
