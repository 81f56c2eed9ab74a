-- DropIndex
DROP INDEX "StepRun_runId_idx";

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_RunEvent" (
    "runId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "type" TEXT NOT NULL,
    "stepId" TEXT,
    "payload" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("runId", "seq"),
    CONSTRAINT "RunEvent_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_RunEvent" ("createdAt", "payload", "runId", "seq", "stepId", "type") SELECT "createdAt", "payload", "runId", "seq", "stepId", "type" FROM "RunEvent";
DROP TABLE "RunEvent";
ALTER TABLE "new_RunEvent" RENAME TO "RunEvent";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
