import type { Metadata } from "next";
import Link from "next/link";
import type { ReactNode } from "react";
import "./globals.css";

export const metadata: Metadata = {
  title: "LLM Orchestrator",
  description: "Draw, run and watch LLM workflows",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body className="flex h-full flex-col">
        <header className="flex h-12 shrink-0 items-center gap-6 border-b border-neutral-200 bg-white px-4">
          <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight">
            <span className="grid h-6 w-6 place-items-center rounded bg-neutral-900 text-xs text-white">◆</span>
            LLM Orchestrator
          </Link>
          <nav className="flex gap-4 text-sm text-neutral-600">
            <Link href="/" className="hover:text-neutral-900" data-testid="nav-workflows">Workflows</Link>
            <Link href="/runs" className="hover:text-neutral-900" data-testid="nav-runs">Runs</Link>
            <Link href="/settings" className="hover:text-neutral-900" data-testid="nav-settings">Settings</Link>
          </nav>
        </header>
        <main className="min-h-0 flex-1">{children}</main>
      </body>
    </html>
  );
}
