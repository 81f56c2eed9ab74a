import Link from "next/link";
import { pageContext } from "@/app/_server/runtime";
import { AUDIT_ACTIONS, AUDIT_TARGET_TYPES } from "@/lib/audit/actions";
import { auditDate, listAudit, type AuditRow } from "@/lib/audit/query";
import { seesEverything } from "@/lib/auth/roles";
import { OrchestratorError } from "@/lib/engine/errors";

export const dynamic = "force-dynamic";

type Params = { actor?: string; action?: string; targetType?: string; targetId?: string; workflow?: string; from?: string; to?: string; cursor?: string };
const FILTERS = ["actor", "action", "targetType", "targetId", "workflow", "from", "to"] as const;

/** One value per filter (a repeated query parameter counts once). */
const single = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/** The URL of this page with these filters (and a cursor). */
function auditHref(params: Params, cursor?: string) {
  const query = new URLSearchParams();
  for (const key of FILTERS) if (params[key]) query.set(key, params[key]!);
  if (cursor) query.set("cursor", cursor);
  const text = query.toString();
  return text ? `/audit?${text}` : "/audit";
}

function targetHref(row: AuditRow): string | null {
  if (row.targetType === "run") return `/runs/${encodeURIComponent(row.targetId)}`;
  if ((row.targetType === "workflow" || row.targetType === "webhook") && row.action !== "workflow.delete") return `/workflows/${encodeURIComponent(row.targetId)}`;
  return null;
}

export default async function AuditPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const raw = await searchParams;
  const params: Params = Object.fromEntries([...FILTERS, "cursor"].map((key) => [key, single(raw[key])?.slice(0, 300)]));
  const { db, userId, actor } = await pageContext(auditHref(params, params.cursor));
  let page: Awaited<ReturnType<typeof listAudit>> = { entries: [], nextCursor: null };
  let problem: string | null = null;
  try {
    page = await listAudit(db, userId, {
      actor: params.actor,
      action: params.action,
      targetType: params.targetType,
      targetId: params.targetId,
      workflowId: params.workflow,
      from: auditDate(params.from, "from"),
      to: auditDate(params.to, "to", true),
      cursor: params.cursor,
    });
  } catch (err) {
    if (!(err instanceof OrchestratorError)) throw err;
    problem = err.message;
  }
  const filtered = FILTERS.some((key) => params[key]);
  const input = "rounded border border-neutral-300 px-2 py-1 text-sm";
  return (
    <div className="mx-auto max-w-6xl p-6">
      <div className="mb-1 flex items-baseline gap-3">
        <h1 className="text-lg font-semibold">Audit log</h1>
        <span className="text-sm text-neutral-500">
          {seesEverything(actor.role) ? "every change, newest first" : "your changes, changes about you and about the workflows you can see, newest first"}
        </span>
      </div>
      <form method="get" action="/audit" className="mb-4 flex flex-wrap items-end gap-2 rounded border border-neutral-200 bg-white p-3" data-testid="audit-filters">
        <label className="flex flex-col text-xs text-neutral-500">
          Actor
          <input name="actor" defaultValue={params.actor ?? ""} placeholder="email" className={input} data-testid="audit-filter-actor" maxLength={200} />
        </label>
        <label className="flex flex-col text-xs text-neutral-500">
          Action
          <input name="action" defaultValue={params.action ?? ""} placeholder="run.cancel or run" list="audit-actions" className={input} data-testid="audit-filter-action" maxLength={200} />
          <datalist id="audit-actions">
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </label>
        <label className="flex flex-col text-xs text-neutral-500">
          Target type
          <select name="targetType" defaultValue={params.targetType ?? ""} className={input} data-testid="audit-filter-target-type">
            <option value="">any</option>
            {AUDIT_TARGET_TYPES.map((t) => (
              <option key={t} value={t}>{t}</option>
            ))}
          </select>
        </label>
        <label className="flex flex-col text-xs text-neutral-500">
          Target id
          <input name="targetId" defaultValue={params.targetId ?? ""} className={input} data-testid="audit-filter-target" maxLength={200} />
        </label>
        {params.workflow && <input type="hidden" name="workflow" value={params.workflow} />}
        <label className="flex flex-col text-xs text-neutral-500">
          From
          <input type="date" name="from" defaultValue={params.from ?? ""} className={input} data-testid="audit-filter-from" />
        </label>
        <label className="flex flex-col text-xs text-neutral-500">
          To
          <input type="date" name="to" defaultValue={params.to ?? ""} className={input} data-testid="audit-filter-to" />
        </label>
        <button type="submit" className="rounded bg-neutral-900 px-3 py-1.5 text-sm font-medium text-white" data-testid="audit-filter-apply">Filter</button>
        {filtered && <Link href="/audit" className="px-2 py-1.5 text-sm text-blue-700 hover:underline" data-testid="audit-filter-clear">Clear</Link>}
      </form>
      {params.workflow && (
        <p className="mb-3 text-sm text-neutral-600" data-testid="audit-workflow-scope">
          About workflow <Link href={`/workflows/${encodeURIComponent(params.workflow)}`} className="font-mono text-blue-700 hover:underline">{params.workflow}</Link> (its versions, webhook, shares and runs)
        </p>
      )}
      {problem ? (
        <p className="rounded border border-red-200 bg-red-50 p-3 text-sm text-red-700" data-testid="audit-error">{problem}</p>
      ) : page.entries.length === 0 ? (
        <p className="rounded border border-dashed border-neutral-300 bg-white p-8 text-center text-sm text-neutral-500" data-testid="audit-empty">
          {filtered ? "No entries match these filters." : "No entries yet."}
        </p>
      ) : (
        <table className="w-full rounded border border-neutral-200 bg-white text-sm" data-testid="audit-table">
          <thead className="bg-neutral-50 text-left text-xs text-neutral-500">
            <tr>
              <th className="px-3 py-2 font-medium">Time (UTC)</th>
              <th className="px-3 py-2 font-medium">Actor</th>
              <th className="px-3 py-2 font-medium">Action</th>
              <th className="px-3 py-2 font-medium">Target</th>
              <th className="px-3 py-2 font-medium">What changed</th>
            </tr>
          </thead>
          <tbody>
            {page.entries.map((row) => {
              const href = targetHref(row);
              return (
                <tr key={row.id} className="border-t border-neutral-100 align-top" data-testid="audit-row" data-action={row.action} data-target={row.targetId} data-actor={row.actorEmail ?? row.actorId}>
                  <td className="whitespace-nowrap px-3 py-2 font-mono text-xs text-neutral-600">{row.at.toISOString().replace("T", " ").slice(0, 19)}</td>
                  <td className="px-3 py-2 text-neutral-700" title={row.actorId}>{row.actorEmail ?? row.actorId}</td>
                  <td className="px-3 py-2 font-mono text-xs">{row.action}</td>
                  <td className="px-3 py-2 text-xs">
                    <span className="text-neutral-500">{row.targetType} </span>
                    {href ? <Link href={href} className="font-mono text-blue-700 hover:underline">{row.targetId}</Link> : <span className="font-mono">{row.targetId}</span>}
                  </td>
                  <td className="px-3 py-2 text-neutral-800" data-testid="audit-summary">
                    {row.summary || <span className="text-neutral-400">—</span>}
                    {row.data?.origin !== undefined && <span className="ml-2 rounded bg-neutral-100 px-1.5 py-0.5 text-[11px] text-neutral-600" data-testid="audit-origin">{String(row.data.origin)}</span>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <div className="mt-3 flex gap-4 text-sm">
        {params.cursor && <Link href={auditHref(params)} className="text-blue-700 hover:underline" data-testid="audit-newest">← Newest</Link>}
        {page.nextCursor && <Link href={auditHref(params, page.nextCursor)} className="text-blue-700 hover:underline" data-testid="audit-older">Older entries →</Link>}
      </div>
    </div>
  );
}
