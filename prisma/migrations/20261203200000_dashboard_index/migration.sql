-- CreateIndex
CREATE INDEX "Run_dashboard_idx" ON "Run"("createdAt", "status", "startedAt", "finishedAt", "totalTokens", "costUsd", "ownerId", "workflowId", "id");
