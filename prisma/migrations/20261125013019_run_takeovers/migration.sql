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
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" DATETIME,
    "finishedAt" DATETIME,
    CONSTRAINT "Run_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Run" ("cancelRequestedAt", "costUsd", "createdAt", "definition", "error", "finishedAt", "id", "input", "lastSeq", "leaseExpiresAt", "leaseOwner", "outputs", "ownerId", "parentCheckpointId", "parentRunId", "parentStepId", "resumeValue", "source", "startedAt", "status", "totalTokens", "workflowId", "workflowName", "workflowVersion") SELECT "cancelRequestedAt", "costUsd", "createdAt", "definition", "error", "finishedAt", "id", "input", "lastSeq", "leaseExpiresAt", "leaseOwner", "outputs", "ownerId", "parentCheckpointId", "parentRunId", "parentStepId", "resumeValue", "source", "startedAt", "status", "totalTokens", "workflowId", "workflowName", "workflowVersion" FROM "Run";
DROP TABLE "Run";
ALTER TABLE "new_Run" RENAME TO "Run";
CREATE INDEX "Run_ownerId_createdAt_idx" ON "Run"("ownerId", "createdAt");
CREATE INDEX "Run_workflowId_createdAt_idx" ON "Run"("workflowId", "createdAt");
CREATE INDEX "Run_status_idx" ON "Run"("status");
CREATE INDEX "Run_parentRunId_idx" ON "Run"("parentRunId");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
