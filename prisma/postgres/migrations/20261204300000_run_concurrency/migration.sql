-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "concurrencyKey" TEXT,
ADD COLUMN     "concurrencyLimit" INTEGER,
ADD COLUMN     "queueReason" TEXT;

-- CreateIndex
CREATE INDEX "Run_workflowId_concurrencyKey_status_createdAt_idx" ON "Run"("workflowId", "concurrencyKey", "status", "createdAt");
