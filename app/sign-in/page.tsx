import { redirect } from "next/navigation";
import { requestActor, serverRuntime } from "@/app/_server/runtime";
import { SignInForm } from "@/components/auth/SignInForm";
import { safeNextPath } from "@/lib/auth/next-path";
import { needsSetup } from "@/lib/auth/users";

export const dynamic = "force-dynamic";

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ next?: string }> }) {
  const { next } = await searchParams;
  if (await needsSetup((await serverRuntime()).db)) redirect("/setup");
  if (await requestActor()) redirect(safeNextPath(next));
  return (
    <div className="mx-auto mt-16 max-w-sm rounded border border-neutral-200 bg-white p-6">
      <h1 className="mb-4 text-lg font-semibold">Sign in</h1>
      <SignInForm next={safeNextPath(next)} />
    </div>
  );
}
