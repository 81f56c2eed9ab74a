import { MAX_SECRETS_PER_USER } from "@/lib/user-secrets";
import { SecretsSection } from "./SecretsSection";

/** The Secrets part of Settings (admins) and of Account (editors): each user's own secrets. */
export function SecretsBlock({ secrets }: { secrets: Array<{ name: string; updatedAt: string }> }) {
  return (
    <>
      <h2 className="mb-1 mt-8 text-base font-semibold">Secrets</h2>
      <p className="mb-4 text-sm text-neutral-500">
        API keys and other credentials for your steps: write <code>{"{{ secrets.NAME }}"}</code> in an http, llm, transform or kilo step&apos;s config. Values are
        encrypted, cannot be read back, and show as <code>[secret:NAME]</code> in run records. Runs use the secrets of the user who started them.
      </p>
      <SecretsSection secrets={secrets} max={MAX_SECRETS_PER_USER} />
    </>
  );
}
