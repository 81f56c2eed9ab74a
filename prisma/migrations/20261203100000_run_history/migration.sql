-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Run" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "ownerId" TEXT NOT NULL,
    "workflowId" TEXT NOT NULL,
    "workflowName" TEXT NOT NULL,
    "workflowVersion" INTEGER,
    "definition" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "source" TEXT NOT NULL DEFAULT 'web',
    "trigger" TEXT NOT NULL DEFAULT 'api',
    "input" TEXT,
    "outputs" TEXT,
    "error" TEXT,
    "lastSeq" INTEGER NOT NULL DEFAULT 0,
    "leaseOwner" TEXT,
    "leaseExpiresAt" DATETIME,
    "cancelRequestedAt" DATETIME,
    "resumeValue" TEXT,
    "parentRunId" TEXT,
    "parentCheckpointId" TEXT,
    "parentStepId" TEXT,
    "totalTokens" INTEGER,
    "costUsd" REAL,
    "takeovers" INTEGER NOT NULL DEFAULT 0,
    "resumeCount" INTEGER NOT NULL DEFAULT 0,
    "resumedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" DATETIME,
    "finishedAt" DATETIME,
    "durationMs" INTEGER,
    CONSTRAINT "Run_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Run" ("cancelRequestedAt", "costUsd", "createdAt", "definition", "error", "finishedAt", "id", "input", "lastSeq", "leaseExpiresAt", "leaseOwner", "outputs", "ownerId", "parentCheckpointId", "parentRunId", "parentStepId", "resumeValue", "source", "startedAt", "status", "takeovers", "totalTokens", "workflowId", "workflowName", "workflowVersion") SELECT "cancelRequestedAt", "costUsd", "createdAt", "definition", "error", "finishedAt", "id", "input", "lastSeq", "leaseExpiresAt", "leaseOwner", "outputs", "ownerId", "parentCheckpointId", "parentRunId", "parentStepId", "resumeValue", "source", "startedAt", "status", "takeovers", "totalTokens", "workflowId", "workflowName", "workflowVersion" FROM "Run";
DROP TABLE "Run";
ALTER TABLE "new_Run" RENAME TO "Run";
CREATE INDEX "Run_createdAt_id_ownerId_workflowId_idx" ON "Run"("createdAt", "id", "ownerId", "workflowId");
CREATE INDEX "Run_ownerId_createdAt_idx" ON "Run"("ownerId", "createdAt");
CREATE INDEX "Run_workflowId_createdAt_idx" ON "Run"("workflowId", "createdAt");
CREATE INDEX "Run_status_createdAt_id_ownerId_workflowId_idx" ON "Run"("status", "createdAt", "id", "ownerId", "workflowId");
CREATE INDEX "Run_trigger_createdAt_id_ownerId_workflowId_idx" ON "Run"("trigger", "createdAt", "id", "ownerId", "workflowId");
CREATE INDEX "Run_durationMs_id_ownerId_workflowId_idx" ON "Run"("durationMs", "id", "ownerId", "workflowId");
CREATE INDEX "Run_costUsd_id_ownerId_workflowId_idx" ON "Run"("costUsd", "id", "ownerId", "workflowId");
CREATE INDEX "Run_parentRunId_idx" ON "Run"("parentRunId");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- Backfill (lib/runner/queries.ts reads these): the trigger from the source, forks from their parent link,
-- resumes by hand from the audit log, the duration from the timestamps.
UPDATE "Run" SET "trigger" = CASE
  WHEN "parentRunId" IS NOT NULL AND "parentStepId" IS NULL THEN 'fork'
  WHEN "source" = 'web' THEN 'ui'
  WHEN "source" IN ('cli', 'api', 'webhook', 'workflow') THEN "source"
  ELSE 'api' END;
UPDATE "Run" SET "durationMs" = CAST(ROUND((julianday("finishedAt") - julianday("startedAt")) * 86400000.0) AS INTEGER)
  WHERE "finishedAt" IS NOT NULL AND "startedAt" IS NOT NULL;
UPDATE "Run" SET
  "resumeCount" = (SELECT COUNT(*) FROM "AuditLog" a WHERE a."targetType" = 'run' AND a."targetId" = "Run"."id" AND a."action" IN ('run.resume', 'run.rewind')),
  "resumedAt" = (SELECT MAX(a."createdAt") FROM "AuditLog" a WHERE a."targetType" = 'run' AND a."targetId" = "Run"."id" AND a."action" IN ('run.resume', 'run.rewind'))
  WHERE "id" IN (SELECT "targetId" FROM "AuditLog" WHERE "targetType" = 'run' AND "action" IN ('run.resume', 'run.rewind'));

-- Full-text search of the history (substring, any case): an FTS5 trigram index over the first 32 KB of each run's
-- input, outputs and error JSON. Kept by the run path (lib/runner/run-search.ts), not by triggers, which Prisma's
-- table redefinitions of "Run" would drop. "RunSearchDoc" gives each run a stable integer document id (the FTS
-- rowid), so a run's document is replaced and deleted by key.
CREATE TABLE "RunSearchDoc" ("docId" INTEGER PRIMARY KEY, "runId" TEXT NOT NULL UNIQUE);
CREATE VIRTUAL TABLE "RunSearch" USING fts5("body", tokenize = 'trigram', content = '', contentless_delete = 1);
INSERT INTO "RunSearchDoc" ("runId") SELECT "id" FROM "Run";
INSERT INTO "RunSearch" ("rowid", "body")
  SELECT d."docId", substr(COALESCE(r."input", '') || ' ' || COALESCE(r."outputs", '') || ' ' || COALESCE(r."error", ''), 1, 32768)
  FROM "RunSearchDoc" d JOIN "Run" r ON r."id" = d."runId";
