-- AlterTable
ALTER TABLE "AuditLog" ADD COLUMN     "subjectId" TEXT,
ADD COLUMN     "summary" TEXT,
ADD COLUMN     "workflowId" TEXT;

-- CreateIndex
CREATE INDEX "AuditLog_createdAt_id_idx" ON "AuditLog"("createdAt", "id");

-- CreateIndex
CREATE INDEX "AuditLog_actorId_createdAt_idx" ON "AuditLog"("actorId", "createdAt");

-- CreateIndex
CREATE INDEX "AuditLog_action_createdAt_idx" ON "AuditLog"("action", "createdAt");

-- CreateIndex
CREATE INDEX "AuditLog_workflowId_createdAt_idx" ON "AuditLog"("workflowId", "createdAt");

-- CreateIndex
CREATE INDEX "AuditLog_subjectId_createdAt_idx" ON "AuditLog"("subjectId", "createdAt");
