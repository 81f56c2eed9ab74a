import { redirect } from "next/navigation";
import { serverRuntime } from "@/app/_server/runtime";
import { SetupForm } from "@/components/auth/SetupForm";
import { needsSetup } from "@/lib/auth/users";

export const dynamic = "force-dynamic";

/** First-run setup: creates the owner's sign-in. Gone once the owner is set up. */
export default async function SetupPage() {
  if (!(await needsSetup((await serverRuntime()).db))) redirect("/sign-in");
  return (
    <div className="mx-auto mt-16 max-w-sm rounded border border-neutral-200 bg-white p-6">
      <h1 className="mb-1 text-lg font-semibold">Set up the owner</h1>
      <p className="mb-4 text-sm text-neutral-500">
        The owner can do everything: add users, change settings, see every workflow. Workflows and runs made before (from the CLI) are yours.
      </p>
      <SetupForm />
    </div>
  );
}
