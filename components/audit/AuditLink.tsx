import Link from "next/link";

/**
 * "Audit log" link to the entries about one object: a workflow (its versions, webhook, shares and runs) or a run.
 * Plain link: usable from server and client components.
 */
export function AuditLink({ workflowId, runId, className }: { workflowId?: string; runId?: string; className?: string }) {
  const query = runId ? `targetType=run&targetId=${encodeURIComponent(runId)}` : `workflow=${encodeURIComponent(workflowId ?? "")}`;
  return (
    <Link href={`/audit?${query}`} data-testid="audit-link" className={className ?? "text-xs text-blue-700 hover:underline"}>
      Audit log
    </Link>
  );
}
