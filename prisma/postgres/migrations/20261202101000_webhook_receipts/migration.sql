-- CreateTable
CREATE TABLE "WebhookReceipt" (
    "workflowId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "runId" TEXT,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "WebhookReceipt_pkey" PRIMARY KEY ("workflowId","key")
);

-- CreateIndex
CREATE INDEX "WebhookReceipt_expiresAt_idx" ON "WebhookReceipt"("expiresAt");

-- AddForeignKey
ALTER TABLE "WebhookReceipt" ADD CONSTRAINT "WebhookReceipt_workflowId_fkey" FOREIGN KEY ("workflowId") REFERENCES "WorkflowHook"("workflowId") ON DELETE CASCADE ON UPDATE CASCADE;
