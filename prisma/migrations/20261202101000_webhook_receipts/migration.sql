-- CreateTable
CREATE TABLE "WebhookReceipt" (
    "workflowId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "runId" TEXT,
    "expiresAt" DATETIME NOT NULL,

    PRIMARY KEY ("workflowId", "key"),
    CONSTRAINT "WebhookReceipt_workflowId_fkey" FOREIGN KEY ("workflowId") REFERENCES "WorkflowHook" ("workflowId") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "WebhookReceipt_expiresAt_idx" ON "WebhookReceipt"("expiresAt");
