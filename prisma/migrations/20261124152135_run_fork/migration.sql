-- AlterTable
ALTER TABLE "Run" ADD COLUMN "parentCheckpointId" TEXT;
ALTER TABLE "Run" ADD COLUMN "parentRunId" TEXT;

-- CreateIndex
CREATE INDEX "Run_parentRunId_idx" ON "Run"("parentRunId");
