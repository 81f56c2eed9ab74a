-- DropIndex
DROP INDEX "Run_status_idx";

-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "durationMs" INTEGER,
ADD COLUMN     "resumeCount" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "resumedAt" TIMESTAMP(3),
ADD COLUMN     "trigger" TEXT NOT NULL DEFAULT 'api';

-- CreateIndex
CREATE INDEX "Run_createdAt_id_ownerId_workflowId_idx" ON "Run"("createdAt", "id", "ownerId", "workflowId");

-- CreateIndex
CREATE INDEX "Run_status_createdAt_id_ownerId_workflowId_idx" ON "Run"("status", "createdAt", "id", "ownerId", "workflowId");

-- CreateIndex
CREATE INDEX "Run_trigger_createdAt_id_ownerId_workflowId_idx" ON "Run"("trigger", "createdAt", "id", "ownerId", "workflowId");

-- CreateIndex
CREATE INDEX "Run_durationMs_id_ownerId_workflowId_idx" ON "Run"("durationMs", "id", "ownerId", "workflowId");

-- CreateIndex
CREATE INDEX "Run_costUsd_id_ownerId_workflowId_idx" ON "Run"("costUsd", "id", "ownerId", "workflowId");

-- Backfill (lib/runner/queries.ts reads these): the trigger from the source, forks from their parent link,
-- resumes by hand from the audit log, the duration from the timestamps.
UPDATE "Run" SET "trigger" = CASE
  WHEN "parentRunId" IS NOT NULL AND "parentStepId" IS NULL THEN 'fork'
  WHEN "source" = 'web' THEN 'ui'
  WHEN "source" IN ('cli', 'api', 'webhook', 'workflow') THEN "source"
  ELSE 'api' END;
UPDATE "Run" SET "durationMs" = ROUND(EXTRACT(EPOCH FROM ("finishedAt" - "startedAt")) * 1000)::INTEGER
  WHERE "finishedAt" IS NOT NULL AND "startedAt" IS NOT NULL;
UPDATE "Run" SET
  "resumeCount" = (SELECT COUNT(*) FROM "AuditLog" a WHERE a."targetType" = 'run' AND a."targetId" = "Run"."id" AND a."action" IN ('run.resume', 'run.rewind')),
  "resumedAt" = (SELECT MAX(a."createdAt") FROM "AuditLog" a WHERE a."targetType" = 'run' AND a."targetId" = "Run"."id" AND a."action" IN ('run.resume', 'run.rewind'))
  WHERE "id" IN (SELECT "targetId" FROM "AuditLog" WHERE "targetType" = 'run' AND "action" IN ('run.resume', 'run.rewind'));

-- Full-text search of the history (substring, any case): a pg_trgm GIN index over the same text the SQLite FTS5
-- index holds (the first 32 KB of each run's input, outputs and error JSON), as an expression index, so nothing
-- writes it but the run row itself. Without pg_trgm (an install that may not create extensions) the search still
-- works, scanning.
DO $$
DECLARE trgm_schema text;
BEGIN
  CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
  -- In public, where it outlives any one schema; it may also have been installed elsewhere before.
  SELECT n.nspname INTO trgm_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
  EXECUTE format('CREATE INDEX "Run_search_trgm_idx" ON "Run" USING gin ((substr(COALESCE("input", '''') || '' '' || COALESCE("outputs", '''') || '' '' || COALESCE("error", ''''), 1, 32768)) %I.gin_trgm_ops)', trgm_schema);
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_trgm is not available (%): run search scans', SQLERRM;
END $$;
