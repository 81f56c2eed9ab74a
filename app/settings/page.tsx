import { pageContext } from "@/app/_server/runtime";
import { AccountSettings } from "@/components/settings/AccountSettings";
import { TokensSection } from "@/components/settings/TokensSection";
import { UsersSection } from "@/components/settings/UsersSection";
import { listTokens, listUsers } from "@/lib/auth/users";
import { atLeast } from "@/lib/auth/roles";
import { GatewaySection } from "@/components/settings/GatewaySection";
import { HttpAllowForm } from "@/components/settings/HttpAllowForm";
import { PricesForm } from "@/components/settings/PricesForm";
import { ModelLimitsForm } from "@/components/settings/ModelLimitsForm";
import { listModelLimits } from "@/lib/governor/settings";
import { RetentionForm } from "@/components/settings/RetentionForm";
import { SecretsBlock } from "@/components/settings/SecretsBlock";
import { retentionSetting } from "@/lib/runner/retention";
import { DEFAULT_PRICES, getPriceTable } from "@/lib/pricing";
import { getGatewaySettings, getHttpAllowSettings } from "@/lib/settings";
import { listSecrets } from "@/lib/user-secrets";

export const dynamic = "force-dynamic";

export default async function SettingsPage() {
  const { db, actor, userId } = await pageContext("/settings");
  const tokens = await listTokens(db, actor);
  // Names and times only: values never leave the server.
  const secrets = (await listSecrets(db, userId)).map((s) => ({ name: s.name, updatedAt: s.updatedAt.toISOString() }));
  if (!atLeast(actor.role, "admin")) return <AccountSettings actor={actor} tokens={tokens} secrets={atLeast(actor.role, "editor") ? secrets : null} />;
  const users = await listUsers(db, actor);
  const gateway = await getGatewaySettings(db);
  const httpAllow = await getHttpAllowSettings(db);
  const prices = await getPriceTable(db);
  const retention = await retentionSetting(db);
  const modelLimits = await listModelLimits(db);
  return (
    <div className="mx-auto max-w-xl p-6">
      <h1 className="mb-1 text-lg font-semibold">Settings</h1>
      <p className="mb-4 text-sm text-neutral-500">The OpenAI-compatible gateway that LLM steps call (OpenAI, LiteLLM, vLLM, Ollama …).</p>
      {gateway.source === "env" && (
        <p data-testid="env-override" className="mb-4 rounded border border-amber-200 bg-amber-50 p-2 text-sm text-amber-800">
          LLM_GATEWAY_URL is set in the server&apos;s environment ({gateway.llmGatewayUrl}); it overrides what is saved here.
        </p>
      )}
      <GatewaySection initialUrl={gateway.source === "settings" ? (gateway.llmGatewayUrl ?? "") : ""} hasApiKey={gateway.hasApiKey} defaultModel={gateway.defaultModel ?? ""} />
      <SecretsBlock secrets={secrets} />
      <h2 className="mb-1 mt-8 text-base font-semibold">HTTP allow-list</h2>
      <p className="mb-4 text-sm text-neutral-500">
        HTTP steps may not reach loopback, private, link-local or metadata addresses. List the internal hosts they may call.
      </p>
      <HttpAllowForm saved={httpAllow.saved} fromEnv={httpAllow.env} />
      <h2 className="mb-1 mt-8 text-base font-semibold">Model prices</h2>
      <p className="mb-4 text-sm text-neutral-500">Used for the cost of each step and run, and for the estimate before a run.</p>
      <PricesForm saved={prices.saved} defaults={DEFAULT_PRICES} />
      <h2 className="mb-1 mt-8 text-base font-semibold" id="model-limits">Model limits</h2>
      <p className="mb-4 text-sm text-neutral-500">
        Per model or per gateway: calls over a limit wait in line (the step shows “waiting for rate limit”) instead of failing. Requests and tokens per minute are paced evenly; in queue mode the limits hold across all workers.
      </p>
      <ModelLimitsForm saved={modelLimits} />
      <h2 className="mb-1 mt-8 text-base font-semibold">Checkpoint retention</h2>
      <p className="mb-4 text-sm text-neutral-500">
        Runs that ended longer ago keep only their final checkpoint (their page and a fork from the end still work); the step-by-step history is dropped. Checked every hour.
      </p>
      {retention.fromEnv && (
        <p data-testid="retention-env" className="mb-2 rounded border border-amber-200 bg-amber-50 p-2 text-sm text-amber-800">
          ORCHESTRATOR_CHECKPOINT_RETENTION_DAYS is set in the server&apos;s environment ({retention.days} days); it overrides what is saved here.
        </p>
      )}
      <RetentionForm initial={retention.days} fromEnv={retention.fromEnv} />
      <h2 className="mb-1 mt-8 text-base font-semibold" id="users">Users</h2>
      <p className="mb-4 text-sm text-neutral-500">Who can sign in, and what their role lets them do (see the README&apos;s roles table).</p>
      <UsersSection users={users.map(({ id, email, name, role }) => ({ id, email, name, role }))} actor={{ id: actor.id, role: actor.role }} />
      <h2 className="mb-1 mt-8 text-base font-semibold" id="tokens">API tokens</h2>
      <p className="mb-4 text-sm text-neutral-500">
        For programs that call the API or the CLI against this server. Yours are made here; you see and can revoke everyone&apos;s.
      </p>
      <TokensSection tokens={tokens} everyone />
    </div>
  );
}
