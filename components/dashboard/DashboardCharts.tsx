"use client";

import { Bar, BarChart, CartesianGrid, ComposedChart, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { DashboardBucket } from "@/lib/observability/dashboard";

/**
 * The dashboard's charts (recharts, loaded by the dashboard pages only): runs per bucket by outcome, p50/p95
 * duration, tokens and cost. Times are shown in the browser's time zone.
 */
export function DashboardCharts({ series, bucket }: { series: DashboardBucket[]; bucket: "hour" | "day" }) {
  const rows = series.map((b) => ({
    ...b,
    label: bucket === "day" ? new Date(b.t).toLocaleDateString([], { month: "short", day: "numeric" }) : new Date(b.t).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit" }),
    other: b.runs - b.succeeded - b.failed,
    p50s: b.p50Ms === null ? null : b.p50Ms / 1000,
    p95s: b.p95Ms === null ? null : b.p95Ms / 1000,
  }));
  return (
    <div className="grid gap-4 lg:grid-cols-2">
      <Panel title={`Runs per ${bucket}`} testId="chart-runs">
        <BarChart data={rows}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          <XAxis dataKey="label" tick={{ fontSize: 11 }} minTickGap={16} />
          <YAxis allowDecimals={false} tick={{ fontSize: 11 }} width={40} />
          <Tooltip />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          <Bar dataKey="succeeded" stackId="runs" fill="#10b981" name="succeeded" isAnimationActive={false} />
          <Bar dataKey="failed" stackId="runs" fill="#ef4444" name="failed" isAnimationActive={false} />
          <Bar dataKey="other" stackId="runs" fill="#a3a3a3" name="running, waiting, cancelled" isAnimationActive={false} />
        </BarChart>
      </Panel>
      <Panel title="Duration (seconds)" testId="chart-duration">
        <LineChart data={rows}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          <XAxis dataKey="label" tick={{ fontSize: 11 }} minTickGap={16} />
          <YAxis tick={{ fontSize: 11 }} width={40} />
          <Tooltip />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          {/* Dots: a bucket with runs between empty ones is a point, not a segment. */}
          <Line dataKey="p50s" name="p50" stroke="#2563eb" dot={{ r: 2.5 }} connectNulls isAnimationActive={false} />
          <Line dataKey="p95s" name="p95" stroke="#f59e0b" dot={{ r: 2.5 }} connectNulls isAnimationActive={false} />
        </LineChart>
      </Panel>
      <Panel title="Tokens and cost" testId="chart-usage" wide>
        <ComposedChart data={rows}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          <XAxis dataKey="label" tick={{ fontSize: 11 }} minTickGap={16} />
          <YAxis yAxisId="tokens" tick={{ fontSize: 11 }} width={50} />
          <YAxis yAxisId="cost" orientation="right" tick={{ fontSize: 11 }} width={60} tickFormatter={(v: number) => `$${v}`} />
          <Tooltip />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          <Bar yAxisId="tokens" dataKey="tokens" fill="#8b5cf6" name="tokens" isAnimationActive={false} />
          <Line yAxisId="cost" dataKey="costUsd" name="cost (USD)" stroke="#0f766e" dot={false} isAnimationActive={false} />
        </ComposedChart>
      </Panel>
    </div>
  );
}

function Panel({ title, testId, wide, children }: { title: string; testId: string; wide?: boolean; children: React.ReactElement }) {
  return (
    <section data-testid={testId} className={`rounded border border-neutral-200 bg-white p-3 ${wide ? "lg:col-span-2" : ""}`}>
      <h2 className="mb-2 text-xs font-medium uppercase tracking-wide text-neutral-500">{title}</h2>
      <div className="h-56">
        <ResponsiveContainer width="100%" height="100%">
          {children}
        </ResponsiveContainer>
      </div>
    </section>
  );
}
