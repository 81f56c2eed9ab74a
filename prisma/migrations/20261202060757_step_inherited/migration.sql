-- AlterTable
ALTER TABLE "StepRun" ADD COLUMN "inheritedFromRunId" TEXT;
