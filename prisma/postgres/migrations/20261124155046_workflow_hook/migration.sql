-- CreateTable
CREATE TABLE "WorkflowHook" (
    "workflowId" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "tokenHash" TEXT NOT NULL,
    "secretSealed" TEXT NOT NULL,
    "waitTimeoutMs" INTEGER NOT NULL DEFAULT 30000,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "WorkflowHook_pkey" PRIMARY KEY ("workflowId")
);

-- AddForeignKey
ALTER TABLE "WorkflowHook" ADD CONSTRAINT "WorkflowHook_workflowId_fkey" FOREIGN KEY ("workflowId") REFERENCES "Workflow"("id") ON DELETE CASCADE ON UPDATE CASCADE;
