-- AlterTable
ALTER TABLE "Run" ADD COLUMN "concurrencyKey" TEXT;
ALTER TABLE "Run" ADD COLUMN "concurrencyLimit" INTEGER;
ALTER TABLE "Run" ADD COLUMN "queueReason" TEXT;

-- CreateIndex
CREATE INDEX "Run_workflowId_concurrencyKey_status_createdAt_idx" ON "Run"("workflowId", "concurrencyKey", "status", "createdAt");
