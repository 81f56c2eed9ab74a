-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_StepRun" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "runId" TEXT NOT NULL,
    "stepId" TEXT NOT NULL,
    "stepType" TEXT NOT NULL,
    "execution" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "input" TEXT,
    "output" TEXT,
    "error" TEXT,
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" DATETIME,
    "attempts" INTEGER NOT NULL DEFAULT 1,
    "attemptErrors" TEXT,
    CONSTRAINT "StepRun_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_StepRun" ("error", "execution", "finishedAt", "id", "input", "output", "runId", "startedAt", "status", "stepId", "stepType") SELECT "error", "execution", "finishedAt", "id", "input", "output", "runId", "startedAt", "status", "stepId", "stepType" FROM "StepRun";
DROP TABLE "StepRun";
ALTER TABLE "new_StepRun" RENAME TO "StepRun";
CREATE INDEX "StepRun_runId_idx" ON "StepRun"("runId");
CREATE UNIQUE INDEX "StepRun_runId_stepId_execution_key" ON "StepRun"("runId", "stepId", "execution");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
