-- AlterTable
ALTER TABLE "Run" ADD COLUMN "costUsd" REAL;
ALTER TABLE "Run" ADD COLUMN "totalTokens" INTEGER;

-- AlterTable
ALTER TABLE "StepRun" ADD COLUMN "completionTokens" INTEGER;
ALTER TABLE "StepRun" ADD COLUMN "costUsd" REAL;
ALTER TABLE "StepRun" ADD COLUMN "promptTokens" INTEGER;
