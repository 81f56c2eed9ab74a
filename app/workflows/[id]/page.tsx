import { notFound } from "next/navigation";
import { pageContext } from "@/app/_server/runtime";
import { atLeast, seesEverything } from "@/lib/auth/roles";
import { Editor } from "@/components/canvas/Editor";
import { activeLiveRun } from "@/lib/runner/queries";
import { STEP_ID_PATTERN } from "@/lib/workflow/schema";
import { getWorkflow } from "@/lib/workflows/repository";

export const dynamic = "force-dynamic";

export default async function WorkflowPage({ params, searchParams }: { params: Promise<{ id: string }>; searchParams: Promise<{ version?: string }> }) {
  const { id } = await params;
  const { version } = await searchParams;
  const { db, userId, actor } = await pageContext(`/workflows/${id}`);
  const workflow = await getWorkflow(db, userId, id, version ? Number(version) : undefined);
  // The editor stays mounted across saves and refreshes (same key), so a live run keeps its state.
  const key = `${id}@${version ?? "latest"}`;
  if (!workflow) {
    // Not saved yet: an empty canvas under this id (the first save creates it).
    // Not for viewers, nor under an id someone else's workflow has (it would not save).
    if (version || !STEP_ID_PATTERN.test(id) || !atLeast(actor.role, "editor")) notFound();
    if (await db.workflow.findUnique({ where: { id }, select: { id: true } })) notFound();
    return <Editor key={key} init={{ definition: { id, name: "Untitled workflow", schemaVersion: 1, steps: [], edges: [] }, savedVersion: null, isNew: true }} versions={[]} />;
  }
  // A run of the workflow going on (started anywhere) is shown live, from its stored state on.
  const run = version ? null : await activeLiveRun(db, userId, id);
  const readOnly = workflow.access !== "edit";
  const mine = workflow.ownerId === actor.id;
  const readOnlyNotice = atLeast(actor.role, "editor")
    ? "View only: shared with you to view. Ask its owner for edit access to change or run it."
    : mine
      ? "View only: your role (viewer) cannot change or run workflows."
      : "View only: shared with you to view (your role, viewer, cannot change or run workflows).";
  return (
    <Editor
      key={key}
      init={{ definition: workflow.definition, savedVersion: workflow.version, run, readOnly }}
      canShare={!readOnly && (mine || seesEverything(actor.role))}
      readOnlyNotice={readOnly ? readOnlyNotice : undefined}
      versions={workflow.versions.map((v) => ({ version: v.version, createdAt: v.createdAt.toISOString() }))}
    />
  );
}
