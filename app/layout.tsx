import type { Metadata } from "next";
import Link from "next/link";
import type { ReactNode } from "react";
import { requestActor } from "@/app/_server/runtime";
import { UserMenu } from "@/components/auth/UserMenu";
import { atLeast } from "@/lib/auth/roles";
import "./globals.css";

export const metadata: Metadata = {
  title: "LLM Orchestrator",
  description: "Draw, run and watch LLM workflows",
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Null on the sign-in and setup pages (and while prerendering, where there is no runtime).
  const actor = await requestActor().catch(() => null);
  return (
    <html lang="en">
      <body className="flex h-full flex-col">
        <header className="flex h-12 shrink-0 items-center gap-6 border-b border-neutral-200 bg-white px-4">
          <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight">
            <span className="grid h-6 w-6 place-items-center rounded bg-neutral-900 text-xs text-white">◆</span>
            LLM Orchestrator
          </Link>
          {actor && (
            <nav className="flex gap-4 text-sm text-neutral-600">
              <Link href="/" className="hover:text-neutral-900" data-testid="nav-workflows">Workflows</Link>
              <Link href="/runs" className="hover:text-neutral-900" data-testid="nav-runs">Runs</Link>
              <Link href="/dashboard" className="hover:text-neutral-900" data-testid="nav-dashboard">Dashboard</Link>
              <Link href="/audit" className="hover:text-neutral-900" data-testid="nav-audit">Audit</Link>
              <Link href="/settings" className="hover:text-neutral-900" data-testid="nav-settings">{atLeast(actor.role, "admin") ? "Settings" : "Account"}</Link>
            </nav>
          )}
          {actor && <UserMenu email={actor.email} role={actor.role} />}
        </header>
        <main className="min-h-0 flex-1">{children}</main>
      </body>
    </html>
  );
}
